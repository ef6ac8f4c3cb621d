"""Weight snapshots kept along a run, for the kinds that read iterates (warm starts, trajectories).

A run that keeps snapshots every k epochs writes its initial weights as epoch 0, then the
weights after every k-th epoch and after its last one, as state dicts `epoch-NNNN.pt` in
its folder. The initial weights are evaluated like every epoch end, so the epoch-0
iterate has its accuracy and loss too.
"""
from __future__ import annotations

from pathlib import Path


def snapshot_path(folder: str | Path, epoch: int) -> Path:
    return Path(folder) / f"epoch-{epoch:04d}.pt"


def keep_snapshots(trainer, folder: str | Path, every: int) -> dict[str, float] | None:
    """Save the initial weights (on a fresh start) and have the trainer save every `every`-th
    epoch's and its last one's. Returns the initial weights' evaluation, or None when the run
    resumes (its epoch 0 was kept and evaluated by the session that started it)."""
    from trainer.checkpoint import save_checkpoint  # torch: here, so that snapshot_path stays light

    initial = None
    if trainer.step == 0:
        save_checkpoint(trainer.model.state_dict(), snapshot_path(folder, 0))
        initial = trainer.evaluate()

    def snapshot(t, m):
        if t.epoch % every == 0 or t.finished:
            save_checkpoint(t.model.state_dict(), snapshot_path(folder, t.epoch))
    trainer.add_callback("on_epoch", snapshot)
    return initial
