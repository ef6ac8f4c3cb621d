"""The experiment kinds: one module each, listed once here.

The CLI's subcommands, the web form's kind and preset choices, the reproduce block and
the estimates are all read from this registry. A kind module holds its settings, its plan
(runs, and what each finished run unlocks), its tables, the paper's numbers it compares
with and its presets (trainer.kinds.base says what a kind is).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from trainer.catalog import is_present
from trainer.fields import ConfigError
from trainer.kinds import (eos, gap, measures, parametric, remedies, reparam, scaling, sharpness, sweep, trajectory,
                           warmstart)
from trainer.kinds.base import PAPER_NETS, Kind, Preset

KINDS: dict[str, Kind] = {module.KIND.name: module.KIND
                          for module in (gap, sharpness, parametric, sweep, warmstart, trajectory, remedies, eos, scaling,
                                         reparam, measures)}
DEFAULT_KIND = "gap"
DEFAULT_PRESET = "gap"


class _Presets(Mapping):
    """Every kind's presets by key: the CPU-scale ones first, one per kind, then the paper-scale
    ones network by network. Built on first use: the paper's read the network table (trainer.nets,
    hence torch), which a web process need not import to start."""

    def __init__(self):
        self._presets: dict[str, Preset] | None = None

    def _all(self) -> dict[str, Preset]:
        if self._presets is None:
            every = [p for kind in KINDS.values() for p in kind.presets()]
            presets = {p.key: p for p in every if p.scale == "cpu"}
            paper = sorted((p for p in every if p.scale == "paper"), key=lambda p: PAPER_NETS.index(p.spec.net))
            presets.update((p.key, p) for p in paper)
            self._presets = presets
        return self._presets

    def __getitem__(self, key: str) -> Preset:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


PRESETS: Mapping[str, Preset] = _Presets()


def get_kind(name: str) -> Kind:
    """The kind of that name; ConfigError("kind") names the known ones otherwise."""
    if name not in KINDS:
        raise ConfigError("kind", f"unknown experiment kind {name!r}; choose one of {', '.join(KINDS)}")
    return KINDS[name]


def presets_of(kind: Kind) -> list[Preset]:
    return [p for p in PRESETS.values() if p.kind == kind.name]


def available_presets(data_dir: str | None = None) -> list[Preset]:
    """Presets whose dataset is present (generated datasets always are)."""
    return [p for p in PRESETS.values() if is_present(p.spec.dataset, data_dir)]
