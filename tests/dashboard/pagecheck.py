"""Finished experiments and analyses made in a running lab's own database (by its own worker),
and what a result page's Bokeh documents hold, read in the browser through BokehJS."""
import json
import os
import re
import subprocess
import sys

from tests.dashboard.labprocess import ROOT, LabProcess

# Run by `manage.py shell` against the lab's database and broker: starts the experiments as the
# form would, waits for the lab's worker to finish them, then prints what the database holds
# (the counts each page's figure must show), as one JSON line after "EXPECTED ".
BUILD = r"""
import json, time
from django.contrib.auth import get_user_model
from dashboard import executor
from dashboard.analyses import request_analysis
from dashboard.models import Analysis, Experiment, MetricPoint, Status
from dashboard.results import Results
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

SPEC = ExperimentSpec(epochs=4, seeds=1, subset=256, sb_batch=32, lb_batch=128)
admin = get_user_model().objects.get(username="admin")
def start(kind, **options):
    return executor.start(admin, f"pages {kind}", KINDS[kind], SPEC, KINDS[kind].options(options), kind)

def wait(predicate, what, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)

trajectory = start("trajectory", every=2)  # first in the queue: its runs also carry the analyses below
sweep = start("sweep", batch_sizes=(16, 64, 256))
warmstart = start("warmstart", every=2, lb_epochs=1)
remedies = start("remedies", remedies=("ghost BN",))
runs = {r.role: r for r in trajectory.runs.all()}
wait(lambda: all(r.status == Status.DONE for r in trajectory.runs.all()), "the trajectory runs")
for r in runs.values():
    r.refresh_from_db()
interpolation = request_analysis(trajectory, "interpolation", {"points": 7, "bn": "batch"}, runs["SB"], runs["LB"])
hessian = request_analysis(trajectory, "hessian", {"k": 2, "n_samples": 64}, runs["SB"])
landscape = request_analysis(trajectory, "landscape", {"resolution": 5, "span": 0.5, "n_samples": 64}, runs["SB"])
experiments = (trajectory, sweep, warmstart, remedies)
mine = Experiment.objects.filter(pk__in=[e.pk for e in experiments])
wait(lambda: all(Results(e).complete() for e in mine)
     and not Analysis.objects.filter(experiment__in=mine, status__in=(Status.QUEUED, Status.RUNNING)).exists(),
     "every result")
failed = list(Analysis.objects.filter(experiment__in=mine, status=Status.FAILED).values_list("kind", "error"))
failed += list(mine.exclude(status=Status.DONE).values_list("name", "status"))
assert not failed, failed

def counts(run):
    return {name: MetricPoint.objects.filter(run=run, name=name).count()
            for name in ("loss", "train_loss", "test_loss", "train_acc", "test_acc", "dist_init")}

def sharpness_done(runs, **filters):
    return sum(Analysis.objects.filter(run=r, kind="sharpness", status=Status.DONE, **filters).count() for r in runs)

sb = warmstart.runs.get(tags__snapshot_every=2)
lb = list(warmstart.runs.exclude(pk=sb.pk))
sb_epochs = [r.tags["sb_epoch"] for r in lb]
hessian.refresh_from_db()
landscape.refresh_from_db()
expected = {
    "trajectory": {"pk": trajectory.pk,
                   "runs": {r.pk: {"role": r.role, "points": counts(r),
                                   "clock": list(r.points.filter(name="wall").order_by("step").values_list("step", "value"))}
                            for r in trajectory.runs.all()},
                   "iterates": {role: sharpness_done([r], epoch__isnull=False) for role, r in runs.items()}},
    "sweep": {"pk": sweep.pk, "batches": sorted(r.config["batch_size"] for r in sweep.runs.all()),
              "runs": {r.pk: r.role for r in sweep.runs.all()},
              "sharpened": sharpness_done(sweep.runs.all())},
    "warmstart": {"pk": warmstart.pk, "lb_runs": len(lb), "sharpened": sharpness_done(lb),
                  # the SB iterates' test accuracies, epoch 0's included
                  "sb_points": MetricPoint.objects.filter(run=sb, name="test_acc", step__in=sb_epochs).count()},
    "remedies": {"pk": remedies.pk, "roles": [r.role for r in remedies.runs.order_by("pk")],
                 "sharpened": sharpness_done(remedies.runs.all())},
    "interpolation": {"pk": interpolation.pk, "points": 7},
    "hessian": {"pk": hessian.pk, "eigenvalues": len(hessian.result["eigen"]["eigenvalues"]),
                "density": len(hessian.result["density"]["grid"])},
    "landscape": {"pk": landscape.pk, "resolution": 5},
}
print("EXPECTED " + json.dumps(expected))
"""


def lab_shell(lab: LabProcess, code: str, timeout: float = 120) -> str:
    """Run `code` with `manage.py shell` against the lab's database and broker; its stdout."""
    redis_url = re.search(r"embedded Redis on (\S+)", lab.output()).group(1)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(LBLAB_VAR_DIR=str(lab.var_dir), LBLAB_EMBEDDED_REDIS_URL=redis_url)
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"the lab's shell failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_results(lab: LabProcess, timeout: float = 400) -> dict:
    """Everything BUILD makes, finished by the lab's worker; the counts it read from the database."""
    out = lab_shell(lab, BUILD, timeout)
    match = re.search(r"^EXPECTED (.*)$", out, re.MULTILINE)
    assert match, f"building the results printed no counts:\n{out}"
    return json.loads(match.group(1))


# Every GlyphRenderer of every Bokeh document on the page, as plain data: its source's name,
# the glyph's type, how many points (rows) the source holds, the y range it is drawn against,
# and for an image, the image's shape. Read from the models BokehJS built, after embedding.
RENDERERS = r"""() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type !== "GlyphRenderer") continue;
      const source = model.data_source;
      const data = source.data;
      const image = data.image ? data.image[0] : null;
      out.push({
        source: source.name, glyph: model.glyph.type, n: source.get_length(),
        y_range: model.y_range_name, dashed: Boolean(model.glyph.line_dash && model.glyph.line_dash.value && model.glyph.line_dash.value.length),
        image_shape: image ? Array.from(image.shape || []) : null,
        contour_lines: model.glyph.type === "MultiLine" ? data.xs.filter((xs) => xs.length > 0).length : null,
      });
    }
  }
  return out;
}"""

# Names of the extra y ranges of each figure on the page.
EXTRA_Y_RANGES = r"""() => {
  const out = [];
  for (const doc of Bokeh.documents)
    for (const model of doc.all_models)
      if (model.type === "Figure") {
        const ranges = model.extra_y_ranges || {};
        out.push(ranges instanceof Map ? Array.from(ranges.keys()) : Object.keys(ranges));
      }
  return out;
}"""


def renderers(page) -> list[dict]:
    return page.evaluate(RENDERERS)


def by_source(page) -> dict[str, dict]:
    """The renderers of named sources, one per name: a line and its markers share a source,
    so the line's entry is kept (the marker's glyph is a Scatter)."""
    out = {}
    for r in renderers(page):
        if r["source"] and (r["source"] not in out or out[r["source"]]["glyph"] == "Scatter"):
            out[r["source"]] = r
    return out
