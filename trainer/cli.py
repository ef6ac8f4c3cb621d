"""python -m trainer {train, <kind>, datasets, nets}: the library from a shell.

`train` has a flag for every TrainConfig field (`--batch-size 0.1`, `--optimizer sgd`,
`--augment`, ...), and each experiment kind of the registry (trainer.kinds) a subcommand
of its own (trainer.cli_kinds), all read from the settings' fields, so the CLI and the
configs never disagree.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from typing import Any, Sequence

from trainer.catalog import DATASETS, NETS
from trainer.cli_flags import CLI, add_field, flag, flag_words
from trainer.config import ConfigError, TrainConfig


def add_config_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    defaults = defaults or TrainConfig()
    group = parser.add_argument_group("run settings (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        default = getattr(defaults, f.name)
        action = add_field(group, TrainConfig, f.name, default=default)
        action.help = f"{action.help} (default: {default})"
        if f.name in ("dataset", "net"):
            action.choices = tuple(DATASETS if f.name == "dataset" else NETS)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    values["betas"] = tuple(values["betas"])
    return TrainConfig(**values)


def train_command(config: dict) -> str:
    """`python -m trainer train` with every setting of the run's config that differs from the defaults
    (its data directory and device are the host's own)."""
    defaults = TrainConfig().to_dict()
    words = [*CLI.split(), "train"]
    for key in defaults:  # TrainConfig's field order (a JSONB column does not keep the stored order)
        if key not in ("data_dir", "device"):
            words += flag_words(key, config.get(key, defaults[key]), defaults[key])
    return shlex.join(words)


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


# -- subcommands -------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from trainer.train import Trainer

    config = config_from_args(args)
    config.validate()
    trainer = Trainer(config, checkpoint_path=args.checkpoint)
    bar = _bar(trainer.total_epochs, f"{config.net}/{config.dataset} B={trainer.batch_size}", not args.quiet)
    bar.update(trainer.epoch)

    def on_epoch(t, m):
        bar.update(1)
        bar.set_postfix(loss=f"{m['train_loss']:.4f}", train=f"{100 * m['train_acc']:.2f}%",
                        test=f"{100 * m['test_acc']:.2f}%")

    trainer.add_callback("on_epoch", on_epoch)
    result = trainer.run()
    bar.close()
    if args.json:
        json.dump({"config": config.to_dict(), "final": result.final, "history": result.history,
                   "environment": result.environment}, sys.stdout, indent=2)
        print()
    else:
        f = result.final
        print(f"train acc {100 * f['train_acc']:.2f}%  test acc {100 * f['test_acc']:.2f}%  "
              f"train loss {f['train_loss']:.4g}  |x - x0| {f['dist_init']:.3g}  "
              f"{f['steps']} steps in {f['wall_time']:.1f} s")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from trainer import data

    rows = data.describe(args.data_dir)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    for r in rows:
        shape = "x".join(map(str, r["input_shape"]))
        print(f"{r['name']:9} {shape:>9} {r['num_classes']:>5} classes {r['n_train']:>7}/{r['n_test']:<7} "
              f"{'present' if r['present'] else 'missing':8} {r['source']}")
    return 0


def cmd_nets(args: argparse.Namespace) -> int:
    from trainer import data, nets

    rows = []
    for spec in nets.NETS.values():
        info = data.DATASETS[spec.paper_dataset]
        model = nets.build_net(spec.name, info.input_shape, info.num_classes)
        rows.append({"name": spec.name, "dataset": spec.paper_dataset, "input_shape": list(info.input_shape),
                     "num_classes": info.num_classes, "parameters": nets.count_parameters(model),
                     "description": spec.description})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    for r in rows:
        print(f"{r['name']:6} {r['dataset']:9} {r['parameters']:>11,}  {r['description']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one network with a progress bar")
    add_config_arguments(train)
    train.add_argument("--checkpoint", help="checkpoint file: written every epoch, resumed from if present")
    train.set_defaults(fn=cmd_train)

    from trainer.cli_kinds import add_kind_commands

    kind_parsers = add_kind_commands(sub)

    for name, fn, text in (("datasets", cmd_datasets, "datasets, shapes, sizes and whether present"),
                           ("nets", cmd_nets, "networks and trainable parameter counts")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(fn=fn)
        if name == "datasets":
            p.add_argument("--data-dir", help="data directory (default: $LBLAB_DATA_DIR or ./data)")

    for p in (train, *kind_parsers, *[sub.choices[n] for n in ("datasets", "nets")]):
        p.add_argument("--json", action="store_true", help="print JSON to stdout instead of text")
        if p is train or p in kind_parsers:
            p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        parser.exit(2, f"error: {flag(e.field) if e.field.isidentifier() else e.field}: {e.message}\n")
    except ValueError as e:  # DataError, NetError: their messages name the fix
        parser.exit(2, f"error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted\n")
    return 0
