"""One CLI subcommand per experiment kind of the registry: `python -m trainer gap --preset mnist1d`.

A subcommand starts from one of the kind's presets (--preset, by default its MNIST-1D one)
and takes a flag for every setting of the experiment (ExperimentSpec), of its LB runs'
remedies (--lb-sam-rho, ...) and of the kind (its Options), each with the field's own help.
`command_line` writes the flags back, for the page's "reproduce" block.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from typing import Any

from trainer.cli_flags import CLI, add_field, flag_words
from trainer.config import TrainConfig
from trainer.kinds import KINDS, presets_of
from trainer.kinds.spec import LB_REMEDY_FIELDS, ExperimentSpec

DEFAULT_PRESET = "mnist1d"
SPEC_FLAGS = tuple(f.name for f in dataclasses.fields(ExperimentSpec) if f.name != "lb_overrides")


def add_kind_commands(sub) -> list[argparse.ArgumentParser]:
    parsers = []
    for kind in KINDS.values():
        p = sub.add_parser(kind.name, help=f"{kind.title} ({kind.source})".replace("%", "%%"),
                           description=f"{kind.title} ({kind.source}). {kind.how_to_read}")
        p.set_defaults(fn=cmd_kind, kind=kind.name)
        presets = [preset.name for preset in presets_of(kind)]
        p.add_argument("--preset", choices=presets, default=DEFAULT_PRESET,
                       help=f"the settings to start from (default {DEFAULT_PRESET}); the flags below change them")
        group = p.add_argument_group("experiment settings (default: the preset's)")
        for name in SPEC_FLAGS:
            add_field(group, ExperimentSpec, name)
        for name in LB_REMEDY_FIELDS:
            add_field(group, TrainConfig, name, dest=f"lb_{name}", help_prefix="LB runs only: ")
        if dataclasses.fields(kind.Options):
            own = p.add_argument_group(f"{kind.label} settings (default: the preset's)")
            for f in dataclasses.fields(kind.Options):
                add_field(own, kind.Options, f.name)
        if kind.name == "gap":
            p.add_argument("--sharpness", action="store_true",
                           help="also measure the sharpness of every final model: the sharpness kind")
        p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
        p.add_argument("--store", default="var/snapshots", help="where runs that keep weight snapshots are kept "
                                                                "and reused")
        parsers.append(p)
    return parsers


def from_args(args) -> tuple[Any, ExperimentSpec, Any]:
    """The kind, spec and options the flags ask for; a ConfigError names the field at fault."""
    kind = KINDS["sharpness" if args.kind == "gap" and getattr(args, "sharpness", False) else args.kind]
    preset = next(p for p in presets_of(kind) if p.name == args.preset)
    changes = {name: getattr(args, name) for name in SPEC_FLAGS if getattr(args, name) is not None}
    overrides = {name: getattr(args, f"lb_{name}") for name in LB_REMEDY_FIELDS
                 if getattr(args, f"lb_{name}") is not None}
    spec = preset.spec.replace(**changes, lb_overrides={**preset.spec.lb_overrides, **overrides})
    options = dataclasses.replace(preset.options, **{f.name: getattr(args, f.name) for f in
                                                     dataclasses.fields(kind.Options)
                                                     if getattr(args, f.name, None) is not None})
    return kind, spec, options


def _bar(desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=0, desc=desc, unit="unit", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def cmd_kind(args) -> int:
    from trainer.executor import run_experiment

    kind, spec, options = from_args(args)
    kind.validate(spec, options)
    bar = _bar(kind.name, not args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    outcome = run_experiment(kind, spec, options, workers=args.workers, progress=progress, store=args.store)
    bar.close()
    if args.json:
        json.dump(outcome.to_dict(), sys.stdout, indent=2, default=str)
        print()
        return 0
    setting = [f"{spec.net} on {spec.dataset}", f"{spec.optimizer} lr {spec.lr:g}", f"{spec.epochs} epochs",
               f"{spec.seeds} seed{'s' if spec.seeds > 1 else ''}"]
    read = [part for part, name in zip(setting, ("net", "lr", "epochs", "seeds")) if name not in kind.ignores]
    print(f"{kind.label} ({kind.source}): {', '.join(read)}; mean ± std (n - 1)\n")
    for table in outcome.tables():
        print(table.text(), end="\n\n")
    for line in outcome.summary():
        print(line)
    print(f"{len(outcome.records.runs)} runs and {len(outcome.records.analyses)} analyses on {outcome.workers} "
          f"worker process{'es' if outcome.workers > 1 else ''}: wall {outcome.wall_time:.1f} s, sum of job times "
          f"{outcome.job_seconds:.1f} s (x{outcome.speedup:.2f} over one after another)")
    return 0


def command_line(kind, spec: ExperimentSpec, options) -> str:
    """The CLI command that re-runs the whole experiment: its kind, the closest preset, and a flag for
    every setting that differs from that preset's."""
    presets = presets_of(kind)
    preset = next((p for p in presets if (p.spec.net, p.spec.dataset) == (spec.net, spec.dataset)),
                  next(p for p in presets if p.name == DEFAULT_PRESET))
    words = [*CLI.split(), kind.name]
    if preset.name != DEFAULT_PRESET:
        words += ["--preset", preset.name]
    for name in SPEC_FLAGS:
        words += flag_words(name, getattr(spec, name), getattr(preset.spec, name))
    for name in LB_REMEDY_FIELDS:
        words += flag_words(f"lb_{name}", spec.lb_overrides.get(name), preset.spec.lb_overrides.get(name))
    for f in dataclasses.fields(kind.Options):
        words += flag_words(f.name, getattr(options, f.name), getattr(preset.options, f.name))
    return shlex.join(words)
