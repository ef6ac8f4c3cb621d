"""How far the ETA and the form's estimate are from the truth, on a preset run in the real lab
(`runlab`: embedded Redis, one worker), alone on the machine.

    .venv/bin/python bench/bench_eta.py [--preset gap] [--epochs 100]

Polls the experiment's ETA (the one the list and the page header show) every second until
the experiment is complete (its analyses too) and prints, at 25%, 50% and 75% progress,
the ETA against the time the experiment then really took, and the form's estimate against
the whole time.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard.labprocess import start_lab  # noqa: E402
from tests.dashboard.pagecheck import lab_shell  # noqa: E402

WATCH = r"""
import dataclasses, json, time
from django.contrib.auth import get_user_model
from dashboard import executor
from dashboard.models import Experiment
from dashboard.results import Results
from trainer.kinds import KINDS, PRESETS
from trainer.kinds.estimate import estimate
preset = PRESETS[%(preset)r]
spec = preset.spec if %(epochs)r is None else dataclasses.replace(preset.spec, epochs=%(epochs)r)
kind = KINDS[preset.kind]
admin = get_user_model().objects.get(username="admin")
form_estimate = estimate(kind, spec, preset.options).seconds
start = time.monotonic()
e = executor.start(admin, "bench eta", kind, spec, preset.options, preset.key)
samples = []
while True:
    e = Experiment.objects.prefetch_related("runs").get(pk=e.pk)
    progress, eta = e.progress_and_eta()
    samples.append((time.monotonic() - start, progress, eta))
    if e.status in ("failed", "cancelled") or Results(e).complete():  # its analyses too
        break
    time.sleep(1.0)
print("RESULT " + json.dumps({"status": e.status, "total": time.monotonic() - start, "estimate": form_estimate,
                               "samples": samples}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="gap")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    args = parser.parse_args()
    lab = start_lab(Path(tempfile.mkdtemp(prefix="bench-eta-")), timeout=180)
    try:
        out = lab_shell(lab, WATCH % {"preset": args.preset, "epochs": args.epochs}, timeout=7200)
    finally:
        lab.stop()
    result = json.loads(re.search(r"^RESULT (.*)$", out, re.MULTILINE).group(1))
    total = result["total"]
    print(f"preset {args.preset}{f' ({args.epochs} epochs)' if args.epochs else ''}: {result['status']} "
          f"in {total:.0f} s")
    for mark in (0.25, 0.5, 0.75):
        at = next(((t, p, eta) for t, p, eta in result["samples"] if p >= mark and eta is not None), None)
        if at is None:
            print(f"  at {mark:.0%}: no ETA")
            continue
        t, p, eta = at
        truth = total - t
        print(f"  at {p:.0%} ({t:.0f} s in): ETA {eta:.0f} s, took {truth:.0f} s more: "
              f"{100 * (eta - truth) / truth:+.0f}%")
    print(f"  the form's estimate: {result['estimate']:.0f} s for {total:.0f} s: "
          f"{100 * (result['estimate'] - total) / total:+.0f}%")


if __name__ == "__main__":
    main()
