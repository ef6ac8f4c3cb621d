"""Time to build an experiment page's plot skeleton (dashboard/figures/runs.py) and its size, for
SB and LB runs of 2 to 20 seeds in all; median of 3 builds in one process, after one build for
Bokeh's first use.

    .venv/bin/python bench/bench_skeleton.py

Also runs in an export of an older checkout (`git archive <commit> | tar -x -C /tmp/old`, then
`cd /tmp/old && python <this file>`), whose skeletons had one line per run: the two side by side.
"""
import inspect
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")


def main() -> None:
    import django

    django.setup()
    from dashboard.figures.runs import _build_skeleton

    per_group = "groups" in inspect.signature(_build_skeleton).parameters
    _build_skeleton(("X",), False, False)
    for n in (2, 6, 10, 20):
        layout = tuple("SB" if i % 2 == 0 else "LB" for i in range(n))
        shape = ("SB", "LB") if per_group else layout
        times = []
        for _ in range(3):
            began = time.perf_counter()
            item = _build_skeleton(shape, False, False)
            times.append(time.perf_counter() - began)
        print(f"{'one line per group' if per_group else 'one line per run'}: {n:2d} runs  "
              f"build {1000 * statistics.median(times):5.0f} ms  {len(json.dumps(item)) / 1024:4.0f} KB", flush=True)


if __name__ == "__main__":
    main()
