"""The README's pictures, taken in headless Chromium from a lab started as the browser tests
start theirs (tests/dashboard/labprocess.py): a small gap experiment (2 seeds) with the
sharpness and every flatness measure of every run, a short edge-of-stability experiment and a
reparametrization, then the list, the form, the experiment pages, an analysis and compare.

    .venv/bin/python docs/screenshots.py        # writes docs/img/*.png (about 5 minutes)
"""
import json
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dashboard.labprocess import browsing, start_lab  # noqa: E402
from tests.dashboard.pagecheck import lab_shell  # noqa: E402

BUILD = r'''
import json, time
from django.contrib.auth import get_user_model
from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.models import Analysis, Experiment, Status
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec
admin = get_user_model().objects.get(username="admin")
spec = ExperimentSpec(epochs=15, seeds=2, subset=512, sb_batch=32, lb_batch=128)
e = executor.start(admin, "Gap, MNIST-1D (small)", KINDS["gap"], spec, KINDS["gap"].options({}), "gap")
deadline = time.monotonic() + 900
while not all(r.status == Status.DONE for r in e.runs.all()):
    assert time.monotonic() < deadline, "the runs did not finish"
    time.sleep(1)
for run in e.runs.all():
    request_analysis(e, "sharpness", {"epsilons": [0.001], "max_iter": 3, "restarts": 0}, run)
while Analysis.objects.filter(experiment=e).exclude(status=Status.DONE).exists():
    assert time.monotonic() < deadline, "the analyses did not finish"
    time.sleep(1)
for run in e.runs.all():
    request_analysis(e, "measures", {"n_samples": 256}, run)
eos = executor.start(admin, "Edge of stability, MNIST-1D (short)", KINDS["eos"],
                     ExperimentSpec(net="relu-mlp", subset=1000, epochs=600, seeds=1), KINDS["eos"].options({}), "custom")
reparam = executor.start(admin, "Sharp minima can generalize, MNIST-1D", KINDS["reparam"],
                         ExperimentSpec(net="relu-mlp", epochs=10, seeds=1), KINDS["reparam"].options({}), "custom")
mine = Experiment.objects.filter(pk__in=[e.pk, eos.pk, reparam.pk])
while mine.exclude(status=Status.DONE).exists() or Analysis.objects.filter(experiment__in=mine).exclude(status=Status.DONE).exists():
    assert time.monotonic() < deadline, "the experiments did not finish"
    time.sleep(1)
Experiment.objects.filter(pk=e.pk).update(tags=",adam,mnist1d,", notes="SB 32 vs LB 128 on 512 samples: the gap in a minute.")
measured = Analysis.objects.filter(experiment=e, kind="measures").order_by("pk").first()
print("EXPECTED " + json.dumps({"pk": e.pk, "runs": [r.pk for r in e.runs.order_by("pk")], "eos": eos.pk,
                                "reparam": reparam.pk, "measures": measured.pk}))
'''


def main(out: pathlib.Path = ROOT / "docs" / "img") -> None:
    out.mkdir(parents=True, exist_ok=True)
    lab = start_lab(pathlib.Path(tempfile.mkdtemp()))
    try:
        made = json.loads(re.search(r"^EXPECTED (.*)$", lab_shell(lab, BUILD, 1000), re.MULTILINE).group(1))
        with browsing(lab) as (_, page, errors):
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(f"{lab.url}/experiments/")
            page.screenshot(path=str(out / "list.png"))
            page.goto(f"{lab.url}/experiments/{made['pk']}/")
            page.wait_for_function("window.labPlots && window.labPlots.recomputed > 0", timeout=30000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "experiment.png"))
            page.locator("#design-results").screenshot(path=str(out / "results.png"))
            page.locator("#sharpness-block").screenshot(path=str(out / "sharpness.png"))
            page.locator("#verdict").screenshot(path=str(out / "verdict.png"))
            page.goto(f"{lab.url}/experiments/new/")
            page.screenshot(path=str(out / "form.png"), full_page=True)
            for name in ("eos", "reparam"):
                page.goto(f"{lab.url}/experiments/{made[name]}/")
                page.wait_for_function("window.labPlots && window.labPlots.recomputed > 0", timeout=30000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            page.goto(f"{lab.url}/analyses/{made['measures']}/")
            page.screenshot(path=str(out / "measures.png"), full_page=True)
            page.set_viewport_size({"width": 1024, "height": 800})
            page.goto(f"{lab.url}/experiments/{made['pk']}/")
            page.wait_for_function("window.labPlots && window.labPlots.recomputed > 0", timeout=30000)
            review = pathlib.Path(tempfile.gettempdir()) / "lab-review"  # for a look, not for the README
            review.mkdir(exist_ok=True)
            page.screenshot(path=str(review / "experiment-1024.png"), full_page=True)
            page.goto(f"{lab.url}/experiments/new/")
            page.screenshot(path=str(review / "form-1024.png"), full_page=True)
            page.goto(f"{lab.url}/admin/dashboard/experiment/")
            page.screenshot(path=str(review / "admin-1024.png"))
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(f"{lab.url}/compare/?runs={','.join(map(str, made['runs']))}&group=role")
            page.wait_for_function("window.labCompare === 'embedded'", timeout=30000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "compare.png"), full_page=True)
            assert not errors, errors
    finally:
        lab.stop()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(out.glob("*.png"))))


if __name__ == "__main__":
    main()
