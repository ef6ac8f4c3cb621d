"""The result of an SB-vs-LB comparison at a glance: the cards at the top of an experiment's page.

Each card is one number with what it rests on: the gap in test accuracy with its 95% confidence
interval and Welch's p over seeds, LB's sharpness over SB's once sharpness of final models is
known, how far each regime travelled from its initial weights, and whether both fit the training
set. Built from plain records, like the tables, for any kind whose runs include SB and LB.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from trainer.kinds.records import Records, RunRecord, sharpness_values
from trainer.kinds.tables import Stat, pct
from trainer.stats import welch

KNOWN, PENDING, MISSING = "known", "pending", "missing"
UNDERFIT_POINTS = 5.0  # training accuracies further apart than this: the gap is partly under-fitting
# the paper's sharpness headline (Table 3), and the spaces in the order a card prefers them
PREFERRED_SHARPNESS = (("full", 1e-3), ("full", 5e-4))


@dataclass(frozen=True)
class Card:
    key: str
    title: str
    value: str  # the headline, "6.73 points"; "-" until known
    detail: str  # what it rests on, or what it waits for
    state: str = KNOWN  # known | pending (will fill in by itself) | missing (needs an action)

    def to_dict(self) -> dict:
        return asdict(self)


def _final(runs: list[RunRecord], metric: str, percent: bool = False) -> Stat | None:
    values = [r.final.get(metric) for r in runs]
    return Stat.of(pct(v) if percent and isinstance(v, (int, float)) else v for v in values)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def gap_card(sb: list[RunRecord], lb: list[RunRecord]) -> Card:
    title = "Generalization gap"
    a, b = _final(sb, "test_acc", True), _final(lb, "test_acc", True)
    if not (a and b):
        return Card("gap", title, "-", "SB - LB test accuracy, once a run of each has finished", PENDING)
    diff = a.mean - b.mean
    test = welch(a, b)
    basis = f"SB {a.mean:.2f}% vs LB {b.mean:.2f}% test accuracy over {a.n} and {b.n} seeds"
    if test:
        detail = f"{test.ci_text(2)} points, Welch's t-test {test.p_text()}; {basis}"
    else:
        detail = f"{basis}; no interval before two seeds of each finish"
    return Card("gap", title, f"{diff:.2f} points", detail + ". The paper: 1 to 5 points.")


OTHER_MEASURES = (("lambda_max", "λ_max"), ("trace", "trace"), ("adaptive", "adaptive"),
                  ("pac_bayes_sigma", "PAC-Bayes σ"))


def other_measures(records: Records, sb: list[RunRecord], lb: list[RunRecord]) -> str:
    """"λ_max 0.34×, adaptive 2.1×, ...": LB/SB of the means of every other measure of the final weights
    that both regimes have, so that no card reads a minimum as sharp from one measure alone."""
    values: dict[int, dict] = {}
    for a in records.analyses:
        if a.kind == "measures" and a.epoch is None and a.status == "done" and a.result \
                and float(a.params.get("alpha", 1)) == 1.0:
            values[a.run] = a.result.get("values", {})
    parts = []
    for key, label in OTHER_MEASURES:
        s = Stat.of(values.get(r.id, {}).get(key) for r in sb)
        l_ = Stat.of(values.get(r.id, {}).get(key) for r in lb)
        if s and l_ and s.mean > 0:
            parts.append(f"{label} {l_.mean / s.mean:.3g}×")
    return ("Other measures, LB / SB: " + ", ".join(parts) + " (σ: higher is flatter).") if parts else ""


def sharpness_card(records: Records, sb: list[RunRecord], lb: list[RunRecord]) -> Card:
    """LB/SB of the mean sharpness of final weights, in the paper's headline space when it was measured,
    with every other measure's LB/SB beside it."""
    card = _keskar_card(records, sb, lb)
    others = other_measures(records, sb, lb)
    return Card(card.key, card.title, card.value, f"{card.detail} {others}".strip(), card.state) if others else card


def _keskar_card(records: Records, sb: list[RunRecord], lb: list[RunRecord]) -> Card:
    title = "Sharpness LB / SB"
    keys = {key for a in records.analyses if a.kind == "sharpness" and a.epoch is None and a.status == "done"
            for key in sharpness_values(a.result)}
    ordered = [k for k in PREFERRED_SHARPNESS if k in keys] + sorted(keys - set(PREFERRED_SHARPNESS),
                                                                       key=lambda k: (k[0] != "full", -k[1], k[0]))
    for space, eps in ordered:
        s = Stat.of(records.sharpness(r, space, eps) for r in sb)
        l_ = Stat.of(records.sharpness(r, space, eps) for r in lb)
        if s and l_ and s.mean > 0:
            where = "full space" if space == "full" else f"a random {space[1:]}-dim subspace"
            return Card("sharpness", title, f"{l_.mean / s.mean:.3g}×",
                        f"Keskar sharpness in {where} at ε {eps:g}: LB {l_.mean:.4g} vs SB {s.mean:.4g}, means over "
                        f"{_plural(l_.n, 'model')} and {s.n}. The paper (Table 3): 9 to 220×.")
    asked = [a for a in records.analyses if a.kind == "sharpness" and a.epoch is None]
    if any(not a.finished for a in asked):
        done = sum(a.status == "done" for a in asked)
        return Card("sharpness", title, "-", f"computing: {done} of {len(asked)} {'analysis' if len(asked) == 1 else 'analyses'} done", PENDING)
    if not (sb and lb):
        return Card("sharpness", title, "-", "once an SB and an LB run have finished", PENDING)
    return Card("sharpness", title, "-", "not measured yet: ask for the sharpness of every finished run "
                "under Analyses", MISSING)


def distance_card(sb: list[RunRecord], lb: list[RunRecord]) -> Card:
    title = "Distance from initial weights"
    a, b = _final(sb, "dist_init"), _final(lb, "dist_init")
    if not (a and b and b.mean > 0):
        return Card("distance", title, "-", "|w - w0| of SB over LB, once a run of each has finished", PENDING)
    return Card("distance", title, f"SB {a.mean / b.mean:.2f}× LB",
                f"|w - w0|: SB {a.mean:.3g} vs LB {b.mean:.3g}. The paper: SB travels 3 to 10 times as far.")


def fit_card(sb: list[RunRecord], lb: list[RunRecord]) -> Card:
    title = "Training accuracy"
    a, b = _final(sb, "train_acc", True), _final(lb, "train_acc", True)
    if not (a and b):
        return Card("fit", title, "-", "SB and LB training accuracy, once a run of each has finished", PENDING)
    if abs(a.mean - b.mean) > UNDERFIT_POINTS:
        low = "LB" if b.mean < a.mean else "SB"
        return Card("fit", title, f"{a.mean:.2f}% / {b.mean:.2f}%",
                    f"SB / LB: {low} fits the training set {abs(a.mean - b.mean):.1f} points less, so part of the test "
                    f"gap is under-fitting: train longer before reading it (the paper: both near 100%).", MISSING)
    return Card("fit", title, f"{a.mean:.2f}% / {b.mean:.2f}%",
                "SB / LB: a gap at equal training accuracy is not under-fitting (the paper: both near 100%).")


def cards(records: Records) -> list[Card]:
    """The cards of an experiment whose design has SB and LB runs; none for other designs (a sweep)."""
    roles = {r.role for r in records.runs}
    if not {"SB", "LB"} <= roles:
        return []
    groups = records.by(lambda r: r.role)
    sb, lb = groups.get("SB", []), groups.get("LB", [])
    return [gap_card(sb, lb), sharpness_card(records, sb, lb), distance_card(sb, lb), fit_card(sb, lb)]
