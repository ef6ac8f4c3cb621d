"""The README's pictures, taken in headless Chromium from a lab started as the browser tests
start theirs (tests/dashboard/labprocess.py): a small gap experiment (2 seeds) with the
sharpness of every run, then the list, the experiment page and compare.

    .venv/bin/python docs/screenshots.py        # writes docs/img/*.png (about 2 minutes)
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
spec = ExperimentSpec(epochs=6, seeds=2, subset=512, sb_batch=32, lb_batch=256)
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
Experiment.objects.filter(pk=e.pk).update(tags=",adam,mnist1d,", notes="SB 32 vs LB 256 on 512 samples: the gap in a minute.")
print("EXPECTED " + json.dumps({"pk": e.pk, "runs": [r.pk for r in e.runs.order_by("pk")]}))
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
