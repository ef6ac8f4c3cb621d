"""Worker side of an analysis: rebuild the run's model and data, load the weights, call trainer.analysis.

Imported only inside the task (torch stays out of the web process). The model is built by
trainer.train.Trainer from the run's own config, so the data are the run's (same subset and
seed) and BatchNorm is evaluated in the run's bn_eval mode.
"""
from __future__ import annotations

import torch
from django.conf import settings

from dashboard.analyses import weights_path


def _trainer(run, epoch: int | None):
    """A Trainer for the run's config on this worker's device, with the analysed weights loaded."""
    from trainer.config import TrainConfig
    from trainer.train import Trainer, load_weights

    config = TrainConfig.from_dict(run.config)
    device = settings.LBLAB_DEVICE or config.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"  # a run trained on a GPU host, analysed on a CPU worker
    trainer = Trainer(config.replace(device=device, init_from=None))
    trainer.model.load_state_dict(load_weights(weights_path(run, epoch)))
    return trainer


def _first(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    return (x, y) if n is None else (x[:n], y[:n])


def compute(analysis, progress) -> dict:
    trainer = _trainer(analysis.run, analysis.epoch)
    cfg, data, p = trainer.config, trainer.data, analysis.params
    common = dict(bn_mode=cfg.bn_eval, batch_size=cfg.eval_batch_size)
    if analysis.kind == "sharpness":
        from trainer.analysis import keskar_sharpness

        return keskar_sharpness(trainer.model, data.x_train, data.y_train, epsilons=tuple(p["epsilons"]),
                                subspace_dim=p["subspace_dim"], max_iter=p["max_iter"], restarts=p["restarts"],
                                progress=progress, **common).to_dict()
    if analysis.kind == "interpolation":
        from trainer.analysis import interpolate

        if analysis.run_b is None:
            raise ValueError("run_b: the far end's run was deleted before the interpolation ran")
        model_b = _trainer(analysis.run_b, analysis.epoch).model
        alphas = torch.linspace(p["alpha_min"], p["alpha_max"], p["points"])
        return interpolate(trainer.model, model_b, data.x_train, data.y_train, data.x_test, data.y_test,
                           alphas=alphas, path=p["path"], bn=p["bn"], batch_size=cfg.eval_batch_size,
                           progress=progress).to_dict()
    if analysis.kind == "hessian":
        return _hessian(trainer, p, progress, common)
    if analysis.kind == "landscape":
        from trainer.analysis import landscape_2d

        x_train, y_train = _first(data.x_train, data.y_train, p["n_samples"])
        x_test, y_test = _first(data.x_test, data.y_test, p["n_samples"])
        return landscape_2d(trainer.model, x_train, y_train, x_test, y_test, resolution=p["resolution"],
                            span=(-p["span"], p["span"]), progress=progress, **common).to_dict()
    raise ValueError(f"unknown analysis kind {analysis.kind!r}")


def _hessian(trainer, p: dict, progress, common: dict) -> dict:
    """Top-k eigenvalues, then (optionally) the trace and the SLQ density, on the first n_samples examples."""
    from trainer.analysis import hessian_density, hessian_eigenvalues, hessian_trace

    data = trainer.data
    n = min(p["n_samples"], data.n_train)
    stages = [("eigen", lambda cb: hessian_eigenvalues(trainer.model, data.x_train, data.y_train, k=p["k"],
                                                       n_samples=n, progress=cb, **common))]
    if p["trace"]:
        stages.append(("trace", lambda cb: hessian_trace(trainer.model, data.x_train, data.y_train, n_samples=n,
                                                         progress=cb, **common)))
    if p["density"]:
        stages.append(("density", lambda cb: hessian_density(trainer.model, data.x_train, data.y_train,
                                                             n_samples=n, progress=cb, **common)))
    result = {"n_samples": n}
    for i, (name, run_stage) in enumerate(stages):
        result[name] = run_stage(progress.stage(i, len(stages))).to_dict()
    return result
