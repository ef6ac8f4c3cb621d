"""The summary cards of an SB-vs-LB experiment, against scipy.stats and hand arithmetic."""
import numpy as np
from scipy import stats

from trainer.kinds.records import AnalysisRecord, Records, RunRecord
from trainer.kinds.verdict import MISSING, PENDING, cards

SB_TEST, LB_TEST = [73.1, 72.2, 74.0], [65.7, 63.9, 67.5]
SB_DIST, LB_DIST = [12.0, 13.0, 14.0], [4.0, 5.0, 6.0]


def _runs(status="done"):
    runs = []
    for i, (role, tests, dists) in enumerate((("SB", SB_TEST, SB_DIST), ("LB", LB_TEST, LB_DIST))):
        for seed, (acc, dist) in enumerate(zip(tests, dists)):
            runs.append(RunRecord(10 * i + seed, role, seed, {}, status=status,
                                  final={"test_acc": acc / 100, "train_acc": 0.999 - 0.001 * i, "dist_init": dist}))
    return runs


def _sharpness(run_id, value, status="done"):
    result = {"options": {"subspace_dim": None}, "entries": [{"epsilon": 1e-3, "value": value}]}
    return AnalysisRecord(100 + run_id, "sharpness", run_id, {}, status=status, result=result if status == "done" else {})


def _by_key(records):
    return {card.key: card for card in cards(records)}


def test_the_gap_card_gives_the_difference_its_interval_and_welchs_p_as_scipy_does():
    ref = stats.ttest_ind(SB_TEST, LB_TEST, equal_var=False)
    ci = ref.confidence_interval(0.95)
    gap = _by_key(Records(_runs()))["gap"]
    assert gap.value == f"{np.mean(SB_TEST) - np.mean(LB_TEST):.2f} points" == "7.40 points"
    assert f"95% CI {ci.low:.2f} to {ci.high:.2f} points" in gap.detail
    assert f"p = {ref.pvalue:.3f}" in gap.detail and "over 3 and 3 seeds" in gap.detail


def test_the_sharpness_card_is_the_ratio_of_means_once_every_model_is_measured():
    sb_values, lb_values = [1.0, 2.0, 3.0], [150.0, 210.0, 240.0]
    runs = _runs()
    analyses = [_sharpness(r.id, v) for r, v in zip(runs, sb_values + lb_values)]
    card = _by_key(Records(runs, analyses))["sharpness"]
    assert card.value == f"{np.mean(lb_values) / np.mean(sb_values):.3g}×" == "100×"
    assert "full space at ε 0.001" in card.detail and "over 3 models and 3" in card.detail


def test_the_sharpness_card_says_what_it_waits_for_or_what_to_do():
    runs = _runs()
    none = _by_key(Records(runs))["sharpness"]
    assert none.state == MISSING and "sharpness of every finished run" in none.detail
    partial = [_sharpness(runs[0].id, 1.0), _sharpness(runs[3].id, 0, status="running")]
    waiting = _by_key(Records(runs, partial))["sharpness"]
    assert waiting.state == PENDING and "1 of 2 analyses done" in waiting.detail


def test_the_distance_and_fit_cards():
    by_key = _by_key(Records(_runs()))
    assert by_key["distance"].value == f"SB {np.mean(SB_DIST) / np.mean(LB_DIST):.2f}× LB" == "SB 2.60× LB"
    assert by_key["fit"].value == "99.90% / 99.80%"


def test_cards_wait_for_finished_runs_and_skip_designs_without_sb_and_lb():
    assert all(c.state == PENDING for c in cards(Records(_runs(status="running"))))
    sweep = Records([RunRecord(1, "B=32", 0, {}), RunRecord(2, "B=512", 0, {})])
    assert cards(sweep) == []


def test_the_sharpness_card_puts_every_other_measure_beside_keskars():
    runs = _runs()
    analyses = [_sharpness(r.id, v) for r, v in zip(runs, [1.0, 2.0, 3.0, 150.0, 210.0, 240.0])]
    lam = [30.0, 30.0, 30.0, 10.0, 10.0, 10.0]  # LB a third as "sharp" by λ_max
    analyses += [AnalysisRecord(200 + r.id, "measures", r.id, {"alpha": 1.0}, result={"values": {"lambda_max": v}})
                 for r, v in zip(runs, lam)]
    card = _by_key(Records(runs, analyses))["sharpness"]
    assert card.value == "100×" and "Other measures, LB / SB: λ_max 0.333×" in card.detail


def test_the_fit_card_warns_when_one_regime_under_fits():
    runs = [RunRecord(1, "SB", 0, {}, final={"train_acc": 0.995, "test_acc": 0.38}),
            RunRecord(2, "LB", 0, {}, final={"train_acc": 0.18, "test_acc": 0.10})]
    fit = _by_key(Records(runs))["fit"]
    assert fit.state == MISSING and "LB fits the training set 81.5 points less" in fit.detail
