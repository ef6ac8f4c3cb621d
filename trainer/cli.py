"""python -m trainer {train, gap, sweep, warmstart, trajectory, remedies, datasets, nets}: the library from a shell.

Training flags are generated from TrainConfig's fields, so the CLI and the config never
disagree: `--batch-size 0.1`, `--optimizer sgd`, `--augment`, ...
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from typing import Any, Sequence

from trainer.config import ConfigError, TrainConfig


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and value >= 1 else value


def _optional(parse):
    def parser(text: str):
        return None if text.lower() in ("", "none") else parse(text)
    parser.__name__ = getattr(parse, "__name__", "value")
    return parser


def add_config_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    from trainer import data, nets

    defaults = defaults or TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("run settings (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        hint = hints[f.name]
        default = getattr(defaults, f.name)
        kwargs: dict[str, Any] = {"default": default, "help": f"{f.metadata['help']} (default: {default})"}
        args = typing.get_args(hint)
        optional = isinstance(hint, types.UnionType) and type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if optional else hint
        if f.name == "batch_size":
            kwargs["type"] = _number
        elif base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.name == "betas":
            kwargs.update(type=float, nargs=2, metavar=("BETA1", "BETA2"))
        else:
            kwargs["type"] = _optional(base) if optional else base
        choices = f.metadata.get("choices")
        if f.name == "dataset":
            choices = tuple(data.DATASETS)
        elif f.name == "net":
            choices = tuple(nets.NETS)
        if choices:
            kwargs["choices"] = choices
        group.add_argument(_flag(f.name), dest=f.name, **kwargs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    values["betas"] = tuple(values["betas"])
    return TrainConfig(**values)


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

    from trainer.cli_designs import add_design_commands

    design_parsers = add_design_commands(sub)

    for name, fn, text in (("datasets", cmd_datasets, "datasets, shapes, sizes and whether present"),
                           ("nets", cmd_nets, "networks and trainable parameter counts")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(fn=fn)
        if name == "datasets":
            p.add_argument("--data-dir", help="data directory (default: $LBLAB_DATA_DIR or ./data)")

    for p in (train, *design_parsers, *[sub.choices[n] for n in ("datasets", "nets")]):
        p.add_argument("--json", action="store_true", help="print JSON to stdout instead of text")
        if p is train or p in design_parsers:
            p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        parser.exit(2, f"error: {_flag(e.field) if e.field.isidentifier() else e.field}: {e.message}\n")
    except ValueError as e:  # DataError, NetError: their messages name the fix
        parser.exit(2, f"error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted\n")
    return 0
