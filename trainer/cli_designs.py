"""CLI subcommands for the experiment designs: gap, sweep, warmstart, trajectory, remedies."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import Any

from trainer import data, designs
from trainer.config import TrainConfig


def _bar(desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=0, desc=desc, unit="unit", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _progress(bar):
    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return update


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        mean, std = value
        return f"{mean:.4g} +- {std:.2g}" if not math.isnan(mean) else "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_rows(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _sharpness_options(args) -> tuple[dict[str, Any], ...]:
    options: list[dict[str, Any]] = []
    if getattr(args, "sharpness", True):
        options.append({"epsilons": tuple(args.epsilons), "max_iter": args.sharpness_iter})
        if args.subspace:
            options.append({"epsilons": tuple(args.epsilons), "max_iter": args.sharpness_iter,
                            "subspace_dim": args.subspace})
    return tuple(options)


def _base(args, preset: TrainConfig) -> TrainConfig:
    changes = {k: v for k, v in (("dataset", args.dataset), ("net", args.net), ("epochs", args.epochs),
                                 ("lr", args.lr), ("subset", args.subset)) if v is not None}
    return preset.replace(**changes)


def _finish(args, result, text: str) -> int:
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        print()
    else:
        print(text)
        print(f"{len(result.runs)} jobs, wall {result.wall_time:.1f} s")
    return 0


def _validate(jobs) -> None:
    for job in jobs:
        if job.train:
            job.config.validate()


def cmd_gap(args) -> int:
    preset = designs.GAP_PRESETS[args.preset]
    changes: dict[str, Any] = {"base": _base(args, preset.base), "sharpness": _sharpness_options(args)}
    if args.seeds:
        changes["seeds"] = tuple(range(args.seeds))
    design = dataclasses.replace(preset, **changes)
    _validate(design.jobs())
    bar = _bar(f"gap {args.preset}", not args.quiet)
    result = designs.run_gap(design, workers=args.workers, progress=_progress(bar))
    bar.close()
    return _finish(args, result, format_gap(result))


def format_gap(result) -> str:
    base = result.design.base
    table = result.table()
    lines = [f"{base.net} on {base.dataset}, {base.optimizer} lr {base.lr:g}, {base.epochs} epochs, "
             f"seeds {list(result.design.seeds)}; mean +- std (n - 1)", format_rows(result.rows())]
    gap = table["SB"]["test_acc"][0] - table["LB"]["test_acc"][0]
    lines.append(f"gap (SB - LB test acc): {gap:.2f} points; |x - x0| SB/LB: "
                 f"{table['SB']['dist_init'][0] / table['LB']['dist_init'][0]:.2f}")
    for key in (k for k in table["SB"] if k.startswith("sharpness ")):
        lines.append(f"{key}: LB/SB = {table['LB'][key][0] / table['SB'][key][0]:.1f}")
    lines.append(f"{len(result.runs)} runs on {result.workers or 'all'} worker processes; sum of run times "
                 f"{sum(r.wall_time for r in result.runs):.1f} s (x{result.speedup:.2f} over one after another)")
    return "\n".join(lines)


def cmd_sweep(args) -> int:
    design = designs.SweepDesign(_base(args, designs.MNIST1D), tuple(args.batch_sizes),
                                 tuple(range(args.seeds or 1)), _sharpness_options(args))
    _validate(design.jobs())
    bar = _bar("sweep", not args.quiet)
    result = designs.run_sweep(design, workers=args.workers, progress=_progress(bar))
    bar.close()
    return _finish(args, result, format_rows(result.rows(), None))


def cmd_warmstart(args) -> int:
    base = _base(args, designs.MNIST1D)
    design = designs.WarmStartDesign(base, args.sb_batch, args.lb_batch, args.sb_epochs or base.epochs,
                                     args.lb_epochs or base.epochs, args.every, args.seed,
                                     _sharpness_options(args), args.store)
    _validate(design.jobs())
    bar = _bar("warm start", not args.quiet)
    result = designs.run_warmstart(design, workers=args.workers, progress=_progress(bar))
    bar.close()
    return _finish(args, result, format_rows(result.rows()))


def cmd_trajectory(args) -> int:
    design = designs.TrajectoryDesign(_base(args, designs.MNIST1D), args.sb_batch, args.lb_batch, args.every,
                                      args.seed, _sharpness_options(args), args.store)
    _validate(design.jobs())
    bar = _bar("trajectory", not args.quiet)
    result = designs.run_trajectory(design, workers=args.workers, progress=_progress(bar))
    bar.close()
    return _finish(args, result, format_rows(result.rows()))


def cmd_remedies(args) -> int:
    base = _base(args, designs.MNIST1D)
    names = tuple(args.remedies or designs.REMEDIES)
    if len(data.DATASETS[base.dataset].input_shape) != 3:
        names = tuple(n for n in names if n != "augmentation")  # augmentation needs images
    design = designs.RemediesDesign(base, args.sb_batch, args.lb_batch, tuple(range(args.seeds or 3)), names,
                                    _sharpness_options(args))
    _validate(design.jobs())
    bar = _bar("remedies", not args.quiet)
    result = designs.run_remedies(design, workers=args.workers, progress=_progress(bar))
    bar.close()
    return _finish(args, result, format_rows(result.rows()))


def add_design_commands(sub) -> list[argparse.ArgumentParser]:
    parsers = []

    def add(name: str, fn, text: str, *, sharpness_default: bool) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(fn=fn)
        for flag, kind in (("--dataset", str), ("--net", str), ("--epochs", int), ("--lr", float),
                           ("--subset", int)):
            p.add_argument(flag, type=kind, help=f"override the preset's {flag[2:]}")
        p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
        if sharpness_default:
            p.add_argument("--no-sharpness", dest="sharpness", action="store_false", help="skip sharpness")
        else:
            p.add_argument("--sharpness", action="store_true", help="also measure Keskar sharpness of every run")
        p.add_argument("--epsilons", type=float, nargs="+", default=[1e-3, 5e-4], help="sharpness box sizes")
        p.add_argument("--subspace", type=int, metavar="P", help="also measure sharpness in a random P-dim subspace")
        p.add_argument("--sharpness-iter", type=int, default=10, help="L-BFGS-B iterations (paper: 10)")
        parsers.append(p)
        return p

    gap = add("gap", cmd_gap, "SB vs LB over seeds: paper Table 2 (and Tables 3, 4 with --sharpness)",
              sharpness_default=False)
    gap.add_argument("--preset", choices=tuple(designs.GAP_PRESETS), default="mnist1d")
    gap.add_argument("--seeds", type=int, help="number of seeds (0, 1, ...), overrides the preset's")

    sweep = add("sweep", cmd_sweep, "final accuracy and sharpness against batch size (Fig. 4)",
                sharpness_default=True)
    sweep.add_argument("--batch-sizes", type=float, nargs="+", default=[16, 32, 64, 128, 256, 400, 1000, 2000, 4000])
    sweep.add_argument("--seeds", type=int, help="seeds per batch size (default 1)")

    for name, fn, text in (("warmstart", cmd_warmstart, "LB warm-started from SB epochs: piggybacking (Fig. 5)"),
                           ("trajectory", cmd_trajectory, "sharpness of the iterates vs training loss (Fig. 6)")):
        p = add(name, fn, text, sharpness_default=True)
        p.add_argument("--sb-batch", type=float, default=32)
        p.add_argument("--lb-batch", type=float, default=0.1)
        p.add_argument("--every", type=int, default=10, help="use every k-th epoch")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--store", default="var/snapshots", help="where weight snapshots are kept and reused")
        if name == "warmstart":
            p.add_argument("--sb-epochs", type=int, help="SB epochs (default: --epochs)")
            p.add_argument("--lb-epochs", type=int, help="LB epochs from each start (default: --epochs)")

    remedies = add("remedies", cmd_remedies, "LB with each remedy next to SB and LB (Tables 6, 7 and more)",
                   sharpness_default=True)
    remedies.add_argument("--sb-batch", type=float, default=32)
    remedies.add_argument("--lb-batch", type=float, default=0.1)
    remedies.add_argument("--seeds", type=int, help="seeds per variant (default 3)")
    remedies.add_argument("--remedies", nargs="+", choices=tuple(designs.REMEDIES), metavar="NAME",
                          help=f"subset of: {', '.join(designs.REMEDIES)}")
    return parsers
