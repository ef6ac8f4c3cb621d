"""Experiment kinds as planners: which runs each starts with, what a finished run unlocks, the
field a bad setting names, the tables' cells and the paper comparison. No training here."""
import numpy as np
import pytest

from trainer.fields import ConfigError
from trainer.kinds import KINDS, PRESETS, get_kind
from trainer.kinds.base import simulate
from trainer.kinds.paper import compare
from trainer.kinds.records import Records, RunRecord
from trainer.kinds.remedies import REMEDIES
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Stat, Table

SPEC = ExperimentSpec(epochs=4, seeds=2, subset=256, sb_batch=32, lb_batch=128)
F1 = ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, epochs=100, seeds=2)


def _plan(kind, spec=SPEC, **options):
    k = KINDS[kind]
    return k.runs(spec, k.options(options))


def _roles(kind, spec=SPEC, **options):
    return [(p.role, p.seed) for p in _plan(kind, spec, **options)]


def test_it_plans_sb_and_lb_over_seeds_for_the_gap_and_sharpness_kinds():
    for kind in ("gap", "sharpness"):
        assert _roles(kind) == [("SB", 0), ("LB", 0), ("SB", 1), ("LB", 1)]


def test_it_plans_one_sb_lb_pair_of_the_same_seed_for_the_parametric_plot():
    planned = _plan("parametric")
    assert [(p.role, p.seed) for p in planned] == [("SB", 0), ("LB", 0)]
    assert planned[0].config.seed == planned[1].config.seed and planned[0].config.batch_size == 32


def test_it_plans_one_run_per_batch_size_and_seed_for_a_sweep():
    planned = _plan("sweep", batch_sizes=(16, 64, 0.5))
    assert [(p.config.batch_size, p.seed) for p in planned] == [(16, 0), (16, 1), (64, 0), (64, 1), (0.5, 0), (0.5, 1)]
    assert [p.tags["batch"] for p in planned] == [16, 16, 64, 64, 0.5, 0.5]


def test_it_starts_a_warm_start_with_the_sb_run_alone_keeping_snapshots():
    planned = _plan("warmstart", every=2, lb_epochs=1)
    assert [(p.role, p.tags) for p in planned] == [("SB", {"snapshot_every": 2})]


def test_a_finished_warm_start_sb_run_unlocks_an_lb_run_from_each_kept_snapshot():
    kind = KINDS["warmstart"]
    options = kind.options({"every": 2, "lb_epochs": 1})
    sb = _plan("warmstart", every=2, lb_epochs=1)[0]
    record = RunRecord(7, sb.role, sb.seed, sb.config.to_dict(), sb.tags)
    unlocked = kind.unlocked(SPEC, options, record, Records([record]))
    assert [(r.start_from.run, r.start_from.epoch) for r in unlocked.runs] == [(7, 0), (7, 2), (7, 4)]
    assert [r.tags for r in unlocked.runs] == [{"sb_epoch": e, "depends_on": 7} for e in (0, 2, 4)]
    assert all(r.config.epochs == 1 and r.config.batch_size == 128 for r in unlocked.runs)
    assert unlocked.analyses == []
    lb = RunRecord(8, "LB", 0, unlocked.runs[0].config.to_dict(), unlocked.runs[0].tags)
    [sharpness] = kind.unlocked(SPEC, options, lb, Records([record, lb])).analyses
    assert (sharpness.kind, sharpness.run, sharpness.params["epsilons"]) == ("sharpness", 8, [1e-3, 5e-4])


def test_it_keeps_snapshots_of_both_regimes_for_the_trajectory():
    planned = _plan("trajectory", every=2)
    assert [(p.role, p.config.batch_size, p.tags) for p in planned] == [
        ("SB", 32, {"snapshot_every": 2}), ("LB", 128, {"snapshot_every": 2})]


def test_it_plans_every_remedy_on_lb_and_skips_augmentation_without_images():
    planned = _plan("remedies")
    variants = list(dict.fromkeys(p.role for p in planned))
    assert variants == ["SB", "LB"] + [f"LB + {name}" for name in REMEDIES if name != "augmentation"]
    sam = next(p.config for p in planned if p.role == "LB + SAM")
    assert sam.sam_rho == REMEDIES["SAM"]["sam_rho"] and sam.batch_size == 128
    assert len(planned) == len(variants) * SPEC.seeds


@pytest.mark.parametrize("kind, options, runs, analyses", [
    ("gap", {}, 4, 0), ("sharpness", {}, 4, 8), ("parametric", {}, 2, 2), ("sweep", {"batch_sizes": (16, 64)}, 4, 4),
    ("warmstart", {"every": 2}, 4, 3), ("trajectory", {"every": 2}, 2, 4), ("remedies", {"remedies": ("SAM",)}, 6, 6)])
def test_following_the_plan_to_the_end_counts_every_run_and_analysis(kind, options, runs, analyses):
    k = KINDS[kind]
    planned_runs, planned_analyses = simulate(k, SPEC, k.options(options))
    assert (len(planned_runs), len(planned_analyses)) == (runs, analyses)


def test_it_names_the_field_of_a_bad_kind_or_setting():
    with pytest.raises(ConfigError) as e:
        get_kind("piggyback")
    assert e.value.field == "kind" and "warmstart" in e.value.message
    for kind, options, field in (("remedies", {"remedies": ["prayer"]}, "remedies"),
                                 ("warmstart", {"every": 0}, "every"), ("sweep", {"batch_sizes": []}, "batch_sizes"),
                                 ("sweep", {"batch_sizes": [16, float("nan")]}, "batch_sizes"),
                                 ("sweep", {"batch_sizes": [16.5]}, "batch_sizes"), ("gap", {"every": 3}, "every")):
        with pytest.raises(ConfigError) as e:
            KINDS[kind].options(options)
        assert e.value.field == field, (kind, options, e.value)
    with pytest.raises(ConfigError) as e:
        ExperimentSpec(seeds=21)
    assert e.value.field == "seeds" and "[1, 20]" in e.value.message


def test_it_round_trips_a_kinds_settings_through_json():
    kind = KINDS["sweep"]
    options = kind.options({"batch_sizes": [16, 0.1]})
    assert kind.options(kind.options_dict(options)) == options and options.batch_sizes == (16, 0.1)


def test_it_has_a_cpu_preset_on_mnist1d_for_every_kind_and_a_paper_one_per_network():
    cpu = [p for p in PRESETS.values() if p.scale == "cpu"]
    assert sorted(p.kind for p in cpu) == sorted(KINDS) and all(p.spec.dataset == "mnist1d" for p in cpu)
    for net in ("f1", "f2", "c1", "c2", "c3", "c4"):
        assert PRESETS[net].kind == "gap" and PRESETS[net].spec.sb_batch == 256
        for kind in {k for k in KINDS if KINDS[k].from_paper} - {"gap"}:
            assert PRESETS[f"{kind}-{net}"].kind == kind


def test_it_prints_table_cells_like_the_means_and_exports_them_whole():
    table = Table("t", "t", [("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")],
                  [{"a": 0.5066578883587337, "b": 91.46180314795483, "c": 0.012345678, "d": None},
                   {"a": Stat(12.5, 1.25, 3), "b": 7, "c": "LB", "d": 2567.3}])
    assert table.cells() == [["0.51", "91.46", "0.0123", "-"], ["12.50 ± 1.25", "7", "LB", "2567.30"]]
    assert table.to_dict()["rows"][0]["a"] == 0.5066578883587337


def test_a_mean_over_one_value_has_no_spread_and_over_two_the_sample_std():
    assert Stat.of([3.0]) == Stat(3.0, None, 1)
    assert Stat.of([1.0, 2.0, "x", None]) == Stat(1.5, 2 ** -0.5, 2)
    assert Stat.of([]) is None


def test_it_compares_with_the_paper_only_for_its_own_setting():
    assert compare(F1).net == "F1" and compare(F1, n_train=60000).net == "F1"
    partial = compare(F1, n_train=3000)  # files that hold part of MNIST
    assert partial.net is None and "the 3000 training samples the mnist files hold" in partial.reason
    for spec, words in ((SPEC, "the paper's closest setting is F1/MNIST"),
                        (ExperimentSpec(dataset="mnist", net="F1", sb_batch=128, lb_batch=0.1), "batch sizes"),
                        (ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, subset=1000), "subset")):
        comparison = compare(spec)
        assert comparison.net is None and words in comparison.reason


def test_the_gap_summary_reads_runs_that_lack_a_metric():
    """Finished runs whose final metrics hold test accuracy only (older or imported runs)."""
    records = Records([RunRecord(1, "SB", 0, SPEC.train_config("SB", 0).to_dict(), final={"test_acc": 0.75}),
                       RunRecord(2, "LB", 0, SPEC.train_config("LB", 0).to_dict(), final={"test_acc": 0.70})])
    kind = KINDS["gap"]
    assert kind.summary(SPEC, kind.Options(), records) == [
        "Gap: LB tests 5.00 points below SB (70.00% vs 75.00%); the paper (Table 2) reports LB 1 to 5 points below SB "
        "on its networks."]


def test_the_gap_summary_gives_the_confidence_interval_and_welchs_p_over_seeds():
    config = SPEC.train_config("SB", 0).to_dict()
    records = Records([RunRecord(i, role, seed, config, final={"test_acc": acc / 100, "train_acc": 1.0})
                       for i, (role, seed, acc) in enumerate(
                           [("SB", 0, 73.1), ("SB", 1, 72.2), ("SB", 2, 74.0),
                            ("LB", 0, 65.7), ("LB", 1, 63.9), ("LB", 2, 67.5)], 1)])
    [line] = KINDS["gap"].summary(SPEC, KINDS["gap"].Options(), records)
    # scipy.stats.ttest_ind(sb, lb, equal_var=False): p = 0.0083, 95% CI 3.66 to 11.14
    assert line.startswith("Gap: LB tests 7.40 points below SB (65.70% vs 73.10%; 95% CI 3.7 to 11.1 points, "
                           "Welch's t-test p = 0.008 over 3 and 3 seeds), at 100.00% vs 100.00% training accuracy")


METRICS = ("train_acc", "test_acc", "train_loss", "test_loss", "dist_init", "batch_size")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_builds_its_tables_and_summary_from_runs_missing_any_metric(name):
    """Whatever a finished run lacks (a metric, its history, its analyses), the result page is built."""
    from hypothesis import given, settings, strategies as st

    kind = KINDS[name]
    options = kind.Options()
    planned, _ = simulate(kind, SPEC, options)

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.tuples(st.sets(st.sampled_from(METRICS)), st.booleans(), st.sampled_from(["done", "failed"])),
                    min_size=len(planned), max_size=len(planned)))
    def check(runs):
        records = Records([
            RunRecord(i, p.role, p.seed, p.config.to_dict(), p.tags, status, {m: 0.5 for m in metrics},
                      {"test_acc": {1: 0.5}} if history else {})
            for i, (p, (metrics, history, status)) in enumerate(zip(planned, runs), 1)])
        for table in kind.tables(SPEC, options, records):
            table.text(), table.to_dict(), table.csv_rows()
        kind.summary(SPEC, options, records)

    check()


def test_the_experiment_eta_scales_the_queued_runs_by_how_far_the_model_was_off_on_the_measured_ones():
    from trainer.kinds.estimate import RunState, remaining_seconds

    def run(status, batch, steps, progress=0.0, elapsed=None, eta=None):
        return RunState(status, progress, elapsed, eta, "mlp", 4000, 1000, batch, steps)

    sb_done = run("done", 32, 12500, 1.0, elapsed=None)
    done = RunState("done", 1.0, 2 * sb_done.modelled_s, None, "mlp", 4000, 1000, 32, 12500)  # twice the model
    lb_running = run("running", 400, 1000, 0.5, elapsed=10.0, eta=10.0)
    lb_queued = run("queued", 400, 1000)
    sb_queued = run("queued", 32, 12500)
    # the running run's ratio: 10 s / 0.5 / its modelled time; the done run's is 2: the median of two is the larger
    ratio_running = 10.0 / 0.5 / lb_running.modelled_s
    scale = max(2.0, ratio_running)
    expected = 10.0 + scale * (lb_queued.modelled_s + sb_queued.modelled_s)
    assert remaining_seconds([done, lb_running, lb_queued, sb_queued]) == pytest.approx(expected)
    assert remaining_seconds([done, lb_running, lb_queued, sb_queued], workers=2) == pytest.approx(expected / 2)
    assert remaining_seconds([lb_queued, sb_queued]) is None  # nothing measured yet
    assert remaining_seconds([done]) == 0.0
    assert remaining_seconds([done], analyses_modelled_s=50.0) == pytest.approx(2 * 50.0)  # the plan's analyses, scaled


def test_the_eos_plan_runs_full_batch_gd_per_step_size_and_one_adam_run_measuring_curvature():
    kind = KINDS["eos"]
    spec = PRESETS["eos"].spec
    runs, analyses = simulate(kind, spec, kind.Options())
    assert [r.role for r in runs] == ["GD η=0.1", "GD η=0.2", "GD η=0.4", "Adam η=0.01"] and not analyses
    for r in runs:
        assert r.config.batch_size == spec.subset == 1000 and r.config.net == "relu-mlp" and r.config.momentum == 0
        assert r.config.curvature_every == 5 and r.config.curvature_samples == 1000
    assert [r.config.optimizer for r in runs] == ["sgd", "sgd", "sgd", "adam"]


def test_the_eos_table_finds_when_lambda_reaches_the_edge_and_how_long_it_stays():
    from trainer.kinds.eos import eos_table

    # GD η = 0.2 (2/η = 10): λ climbs 1, 2, ..., 9 (90% of 10 at step 9), then 10, 11, 13, 10, 7 at steps 10-14
    lam = {step: float(step) for step in range(1, 10)} | {10: 10.0, 11: 11.0, 12: 13.0, 13: 10.0, 14: 7.0}
    loss = {1: 2.0, 2: 1.5, 3: 1.6, 4: 1.2, 5: 1.3, 6: 1.0}  # rises at steps 3 and 5
    config = {"optimizer": "sgd", "lr": 0.2}
    records = Records([RunRecord(1, "GD η=0.2", 0, config, final={"test_acc": 0.5},
                                 history={"lambda_max": lam, "train_loss": loss})])
    [row] = eos_table(records).rows
    assert row["threshold"] == "2/η = 10" and row["reached"] == 9 and row["lambda_max"] == 13.0
    # from step 9 on: 9, 10, 11, 13, 10, 7 -> within ±20% of 10 (8..12): 9, 10, 11, 10 = 4 of 6
    assert row["at_edge"] == pytest.approx(66.7) and row["rises"] == 2 and row["peak_ratio"] == 1.3
    adam = Records([RunRecord(2, "Adam η=0.01", 0, {"optimizer": "adam", "lr": 0.01},
                              history={"lambda_max_pre": {5: 100.0, 10: 3500.0}, "lambda_max": {5: 1.0, 10: 2.0}})])
    [row] = eos_table(adam).rows
    assert row["threshold"] == "38/η = 3800 (preconditioned)" and row["reached"] == 10  # 3500 >= 0.9 x 3800


def test_the_measures_ranking_gives_kendalls_tau_and_the_granulated_tau_per_hyper_parameter():
    from scipy import stats

    from trainer.kinds.measures import measures_tables
    from trainer.kinds.records import AnalysisRecord

    rng = np.random.default_rng(1)
    runs, analyses = [], []
    for i, (batch, lr, seed) in enumerate([(b, lr, s) for b in (32, 512) for lr in (1e-3, 3e-3) for s in (0, 1)], 1):
        gap = float(rng.normal(5, 2))
        runs.append(RunRecord(i, f"B={batch}", seed, {"lr": lr},
                              final={"train_acc": 0.9, "test_acc": 0.9 - gap / 100, "batch_size": batch, "n_train": 4000}))
        values = {"keskar_full": gap * 10 + float(rng.normal()), "lambda_max": float(rng.normal()),
                  "pac_bayes_sigma": 1 / (1 + gap)}
        analyses.append(AnalysisRecord(100 + i, "measures", i, {"alpha": 1.0}, result={"values": values}))
    ranking, per_run = measures_tables(Records(runs, analyses))
    gaps = [r["gap"] for r in per_run.rows]
    by_measure = {r["measure"]: r for r in ranking.rows}
    keskar = [r["keskar_full"] for r in per_run.rows]
    assert by_measure["Keskar full ε 1e-3"]["tau"] == pytest.approx(stats.kendalltau(keskar, gaps).statistic)
    # batch varied, lr and seed fixed: 4 pairs of two runs, each tau is +1 or -1
    pairs = {}
    for r in per_run.rows:
        pairs.setdefault((r["lr"], r["seed"]), []).append(r)
    expected = np.mean([stats.kendalltau([a["keskar_full"], b["keskar_full"]], [a["gap"], b["gap"]]).statistic
                        for a, b in pairs.values()])
    assert by_measure["Keskar full ε 1e-3"]["tau_batch"] == pytest.approx(expected)
    assert by_measure["PAC-Bayes 1/σ²"]["tau"] == pytest.approx(1.0)  # 1/σ² = (1 + gap)², monotone in the gap
    assert by_measure["Hessian trace"]["tau"] is None and by_measure["Hessian trace"]["n"] == 0


def test_the_reparam_plan_measures_one_bn_free_run_at_every_alpha():
    kind = KINDS["reparam"]
    runs, analyses = simulate(kind, PRESETS["reparam"].spec, kind.Options())
    assert [r.config.net for r in runs] == ["relu-mlp"]
    assert [a.params["alpha"] for a in analyses] == [0.125, 1.0, 8.0, 64.0, 512.0]
    assert {a.kind for a in analyses} == {"measures"}


def test_steps_to_target_on_a_synthetic_curve_and_the_scaling_table():
    from trainer.kinds.scaling import ScalingOptions, scaling_table, steps_to

    # loss 2 / epoch: at most 0.3 first at epoch 7 (0.2857); 10 steps an epoch
    curve = {e: 2 / e for e in range(1, 20)}
    assert steps_to(curve, 10, 0.3) == 70 and steps_to(curve, 10, 0.01) is None
    assert steps_to({1: 0.4, 2: 0.6}, 5, 0.55, below=False) == 10

    options = ScalingOptions(batch_sizes=(16, 64), learning_rates=(1e-3, 1e-2), target_loss=0.3)
    assert KINDS["scaling"].runs(PRESETS["scaling"].spec, KINDS["scaling"].Options())[0].config.momentum == 0.9
    runs = []
    # B=16: lr 1e-2 gets there in 4 epochs of 250 steps, lr 1e-3 in 8; B=64: 4 epochs of 62 (slower per sample)
    for i, (batch, lr, epochs) in enumerate([(16, 1e-3, 8), (16, 1e-2, 4), (64, 1e-3, 6), (64, 1e-2, 4)], 1):
        spe = 4000 // batch
        history = {"train_loss": {e: 1.0 if e < epochs else 0.25 for e in range(1, epochs + 1)},
                   "b_simple": {1: 100.0 * i}}
        runs.append(RunRecord(i, f"B={batch}", 0, {"lr": lr}, tags={"batch": batch, "lr": lr},
                              final={"batch_size": batch, "steps": epochs * spe, "epochs": epochs}, history=history))
    table = scaling_table(options, Records(runs))
    rows = {r["batch"]: r for r in table.rows}
    assert rows[16]["steps"] == 1000 and rows[16]["best_lr"] == 1e-2
    assert rows[64]["steps"] == 4 * 62 and rows[64]["perfect"] == 250.0  # 1000 x 16 / 64
    assert rows[64]["efficiency"] == round(100 * 250 / 248, 1)
    assert table.note.endswith(": 250")  # the median of 100, 200, 300, 400
