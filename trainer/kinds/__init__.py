"""The experiment kinds: one module each, listed once here.

The CLI's subcommands, the web form's kind and preset choices, the reproduce block and
the estimates are all read from this registry. A kind module holds its settings, its plan
(runs, and what each finished run unlocks), its tables, the paper's numbers it compares
with and its presets (trainer.kinds.base says what a kind is).
"""
from __future__ import annotations

from trainer.fields import ConfigError
from trainer.kinds import gap, parametric, remedies, sharpness, sweep, trajectory, warmstart
from trainer.kinds.base import PAPER_NETS, Kind, Preset

KINDS: dict[str, Kind] = {module.KIND.name: module.KIND
                          for module in (gap, sharpness, parametric, sweep, warmstart, trajectory, remedies)}
DEFAULT_KIND = "gap"
_ALL = [p for kind in KINDS.values() for p in kind.presets()]
# the CPU-scale presets first, one per kind; then the paper-scale ones, network by network
PRESETS: dict[str, Preset] = {p.key: p for p in _ALL if p.scale == "cpu"}
PRESETS.update((p.key, p) for p in sorted((p for p in _ALL if p.scale == "paper"),
                                           key=lambda p: PAPER_NETS.index(p.spec.net)))
DEFAULT_PRESET = "gap"


def get_kind(name: str) -> Kind:
    """The kind of that name; ConfigError("kind") names the known ones otherwise."""
    if name not in KINDS:
        raise ConfigError("kind", f"unknown experiment kind {name!r}; choose one of {', '.join(KINDS)}")
    return KINDS[name]


def available_presets(data_dir: str | None = None) -> list[Preset]:
    """Presets whose dataset is present (generated datasets always are)."""
    from trainer import data

    return [p for p in PRESETS.values() if data.is_present(p.spec.dataset, data_dir)]
