"""The "reproduce" block of an experiment page, and the "how to read it" paragraph.

The design's own CLI subcommand when the trainer CLI can express the setting, and in any
case the `python -m trainer train` command of each distinct run configuration.
"""
from __future__ import annotations

import json
import shlex

from trainer.config import TrainConfig

CLI = "python -m trainer"
GAP_CLI_PRESETS = {("mnist1d", "mlp", 32, 0.1): "mnist1d", ("digits", "mlp", 16, 0.1): "digits",
                   **{(d, n, 256, 0.1): n for n, d in (("F1", "mnist"), ("F2", "timit"), ("C1", "cifar10"),
                                                       ("C2", "cifar10"), ("C3", "cifar100"), ("C4", "cifar100"))}}


def _common(spec) -> list[str]:
    args = ["--dataset", spec.dataset, "--net", spec.net, "--epochs", str(spec.epochs), "--lr", f"{spec.lr:g}"]
    return args + (["--subset", str(spec.subset)] if spec.subset else [])


def design_command(spec, design) -> str | None:
    """The trainer CLI command that re-runs the whole design, or None when the CLI cannot express it."""
    kind, batches = design.kind, ["--sb-batch", f"{spec.sb_batch:g}", "--lb-batch", f"{spec.lb_batch:g}"]
    plain = spec.optimizer == "adam" and not spec.lb_overrides
    if kind in ("gap", "sharpness"):
        preset = GAP_CLI_PRESETS.get((spec.dataset, spec.net, spec.sb_batch, spec.lb_batch))
        if preset is None or not plain:
            return None
        args = ["gap", "--preset", preset, *_common(spec), "--seeds", str(spec.seeds)]
        if kind == "sharpness":
            args += ["--sharpness", "--subspace", str(design.subspace_dim)]
        return shlex.join([*CLI.split(), *args])
    if not plain:
        return None
    if kind == "sweep":
        args = ["sweep", *_common(spec), "--seeds", str(spec.seeds), "--batch-sizes",
                *[f"{b:g}" for b in design.batch_sizes]]
    elif kind == "warmstart":
        args = ["warmstart", *_common(spec), *batches, "--every", str(design.every), "--sb-epochs", str(spec.epochs),
                "--lb-epochs", str(design.lb_epochs), "--seed", "0"]
    elif kind == "trajectory":
        args = ["trajectory", *_common(spec), *batches, "--every", str(design.every), "--seed", "0"]
    elif kind == "remedies":
        args = ["remedies", *_common(spec), *batches, "--seeds", str(spec.seeds), "--epsilons", "1e-3",
                "--remedies", *design.remedies]
    else:
        return None  # parametric: the runs below, then the interpolation analyses from the page
    return shlex.join([*CLI.split(), *args])


def run_command(config: dict) -> str:
    """`python -m trainer train` with every setting that differs from the defaults."""
    defaults = TrainConfig().to_dict()
    args = ["train"]
    for key in defaults:  # TrainConfig's field order (a JSONB column does not keep the stored order)
        value = config.get(key, defaults[key])
        if key in ("data_dir", "device") or value == defaults[key]:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, (list, tuple)):
            args += [flag, *map(str, value)]
        else:
            args += [flag, "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))]
    return shlex.join([*CLI.split(), *args])


# the Design settings each kind reads (the others keep their defaults and are left out of the block)
DESIGN_SETTINGS = {"gap": (), "sharpness": ("subspace_dim",), "parametric": (), "sweep": ("batch_sizes",),
                   "warmstart": ("every", "lb_epochs"), "trajectory": ("every",), "remedies": ("remedies",)}


def reproduce(experiment, runs) -> dict:
    spec, design = experiment.spec, experiment.design_options
    commands, seen = [], set()
    for run in runs:
        command = run_command(run.config)
        if command not in seen:
            seen.add(command)
            commands.append((f"{run.role} seed {run.seed}", command))
    settings = {k: v for k, v in design.to_dict().items() if k in DESIGN_SETTINGS[design.kind]}
    config = {"kind": design.kind, "spec": experiment.config, "design": {"kind": design.kind, **settings}}
    return {"config_json": json.dumps(config, indent=2), "design_command": design_command(spec, design),
            "run_commands": commands}


HOW_TO_READ = {
    "gap": "Both regimes fit the training set; the generalization gap is the drop in test accuracy from SB to "
           "LB. The paper (Table 2) finds LB 1 to 5 points worse on every network, with training accuracy as "
           "high: the gap is not under-fitting.",
    "sharpness": "Sharpness is the largest relative rise of the training loss within a small box around the "
                 "solution (Keskar's Metric 2.1, in percent). The paper (Tables 3 and 4) finds LB minima one "
                 "to two orders of magnitude sharper than SB minima, in full space and in a random 100-dim "
                 "subspace, at both box sizes: large batches converge to sharp minimizers, which generalize worse.",
    "parametric": "The loss along the line (and the curved path) from the SB solution (α = 0) to the LB solution "
                  "(α = 1), train solid and test dashed. In the paper (Fig. 3) the loss rises steeply around "
                  "α = 1 and gently around α = 0: the LB minimum is sharp, the SB minimum flat.",
    "sweep": "Final test accuracy and sharpness for each batch size, log axes. The paper (Fig. 4) finds "
             "accuracy flat up to a threshold and then dropping, while sharpness rises with the batch size.",
    "warmstart": "LB runs started from the SB iterate at each epoch. The paper (Fig. 5) finds that after enough "
                 "SB epochs the LB run keeps SB's test accuracy and lands in a flat minimum: SB's early noisy "
                 "steps steer towards the flat basin, and LB then stays there.",
    "trajectory": "Sharpness of the iterates against their training loss, both on log axes; training proceeds "
                  "right to left. In the paper (Fig. 6) SB iterates get flatter as the loss falls while LB "
                  "iterates get sharper: the two regimes head for different minima early on.",
    "remedies": "LB with each remedy, next to plain SB and LB. The paper (Tables 6 and 7) finds that "
                "augmentation, conservative and robust training raise LB accuracy a little but leave the LB "
                "minima sharp and do not close the gap; later work (SAM, ghost BN, lr scaling, longer "
                "regimes) is tried here the same way.",
}
