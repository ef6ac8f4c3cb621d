import numpy as np
import pytest

from dashboard.models import MetricPoint
from dashboard.figures.series import CLOCK_POINTS, DISPLAY_POINTS, load_clocks, load_series
from tests.exact import m4_reference

pytestmark = pytest.mark.django_db


def _store(run, name, steps, values):
    MetricPoint.objects.bulk_create([MetricPoint(run=run, name=name, step=int(s), value=float(v))
                                     for s, v in zip(steps, values)])


def test_it_keeps_short_curves_whole(experiment):
    run = experiment.runs.first()
    _store(run, "loss", range(1, 501), np.linspace(2, 1, 500))
    x, y = load_series([run.pk], ["loss"])[(run.pk, "loss")]
    assert x.tolist() == list(range(1, 501))
    assert np.allclose(y, np.linspace(2, 1, 500))


def test_it_reduces_a_long_curve_to_each_buckets_first_last_min_and_max_at_their_steps(experiment):
    run = experiment.runs.first()
    rng = np.random.default_rng(0)
    steps = np.arange(1, 50001)
    values = np.exp(-steps / 10000) + 0.2 * rng.random(len(steps))
    values[31234] = -5.0  # a dip and a spike inside their buckets, far from the buckets' ends
    values[777] = 9.0
    _store(run, "loss", steps, values)
    x, y = load_series([run.pk], ["loss"])[(run.pk, "loss")]
    assert DISPLAY_POINTS // 2 < len(x) <= DISPLAY_POINTS
    assert np.all(np.diff(x) > 0) and x[0] == 1 and x[-1] == 50000
    # drawn where they happened, not at their bucket's first or last step
    assert y[x.tolist().index(31235)] == np.float32(-5.0) and y[x.tolist().index(778)] == np.float32(9.0)
    width = int(np.ceil(50001 / (DISPLAY_POINTS // 4)))
    expected = m4_reference(steps, values, width)
    assert x.tolist() == sorted(expected)
    assert np.allclose(y, [expected[s] for s in x.tolist()], atol=1e-6)


def test_a_constant_bucket_keeps_its_first_step_for_its_extremes(experiment):
    run = experiment.runs.first()
    _store(run, "loss", range(0, 20000), np.ones(20000))
    x, _ = load_series([run.pk], ["loss"])[(run.pk, "loss")]
    width = int(np.ceil(20000 / (DISPLAY_POINTS // 4)))
    assert x.tolist() == sorted({s for b in range(0, 20000, width) for s in (b, min(b + width, 20000) - 1)})


def test_it_keeps_epoch_curves_whole_and_runs_apart(experiment):
    sb, lb = experiment.runs.all()
    _store(sb, "test_acc", [1, 2, 3], [0.5, 0.6, 0.7])
    _store(lb, "test_acc", [1, 2], [0.4, 0.45])
    series = load_series([sb.pk, lb.pk], ["test_acc", "loss"])
    assert series[(sb.pk, "test_acc")][0].tolist() == [1, 2, 3]
    assert np.allclose(series[(lb.pk, "test_acc")][1], [0.4, 0.45])
    assert (sb.pk, "loss") not in series


def test_a_long_clock_is_thinned_evenly_keeping_its_ends(experiment):
    short, long_ = experiment.runs.all()[:2]
    _store(short, "wall", [10, 20, 30], [0.5, 1.25, 2.0])
    _store(long_, "wall", range(1, 5001), np.arange(1, 5001) * 0.01)
    clocks = load_clocks([short.pk, long_.pk])
    assert clocks[short.pk] == [[10, 0.5], [20, 1.25], [30, 2.0]]
    thinned = clocks[long_.pk]
    assert len(thinned) == CLOCK_POINTS and thinned[0] == [1, 0.01] and thinned[-1] == [5000, 50.0]
    gaps = np.diff([step for step, _ in thinned])
    assert gaps.max() - gaps.min() <= 1  # even
    assert all(abs(t - step * 0.01) < 1e-9 for step, t in thinned)


def test_a_runs_series_is_read_from_the_cache_until_its_worker_flushes_again(experiment):
    from dashboard.figures.series import series_version
    from dashboard.models import Run

    run = experiment.runs.first()
    _store(run, "loss", range(1, 5001), np.linspace(2, 1, 5000))
    assert series_version(run) is None  # nothing flushed by a worker: always read
    Run.objects.filter(pk=run.pk).update(last_seq=7, status="running")  # as a flush leaves it
    run.refresh_from_db()
    version = series_version(run)
    first = load_series([run.pk], ["loss"], {run.pk: version})[(run.pk, "loss")]
    MetricPoint.objects.filter(run=run, step=5000).update(value=-1.0)  # behind the cache's back
    again = load_series([run.pk], ["loss"], {run.pk: version})[(run.pk, "loss")]
    assert np.array_equal(first[1], again[1]) and again[1][-1] == np.float32(1.0)  # the cached reduction
    assert load_series([run.pk], ["loss"])[(run.pk, "loss")][1][-1] == np.float32(-1.0)  # without a version: read
    Run.objects.filter(pk=run.pk).update(status="done")  # finished: its own entry, reduced from the database
    run.refresh_from_db()
    assert series_version(run) != version
    assert load_series([run.pk], ["loss"], {run.pk: series_version(run)})[(run.pk, "loss")][1][-1] == np.float32(-1.0)


def _flush(run, seq, steps, values):
    from dashboard.models import Run

    MetricPoint.objects.bulk_create([MetricPoint(run=run, name="loss", step=int(s), value=float(v), seq=seq)
                                     for s, v in zip(steps, values)])
    Run.objects.filter(pk=run.pk).update(last_seq=seq, status="running")
    run.refresh_from_db()


def test_a_running_runs_next_view_adds_only_the_flushes_since_and_stays_bounded(experiment, monkeypatch):
    from dashboard.figures import series as series_module
    from dashboard.figures.series import series_version

    run = experiment.runs.first()
    rng = np.random.default_rng(3)
    _flush(run, 1, range(1, 5001), rng.random(5000))
    first = load_series([run.pk], ["loss"], {run.pk: series_version(run)})[(run.pk, "loss")]

    def no_reduction_in_the_database(*args):
        raise AssertionError("the whole run was reduced again")

    monkeypatch.setattr(series_module, "_read", no_reduction_in_the_database)
    _flush(run, 2, range(5001, 5051), np.full(50, 0.5))
    x, y = load_series([run.pk], ["loss"], {run.pk: series_version(run)})[(run.pk, "loss")]
    assert x.tolist() == first[0].tolist() + list(range(5001, 5051)) and np.all(y[-50:] == np.float32(0.5))

    spike, dip = 9000 + 17, 14000 + 3
    for seq, start in enumerate(range(5051, 20051, 1000), start=3):  # 15 flushes of 1,000 points
        values = rng.random(1000).astype(np.float32)
        values[values.size // 2] = 0.0
        if start <= spike < start + 1000:
            values[spike - start] = 7.0
        if start <= dip < start + 1000:
            values[dip - start] = -3.0
        _flush(run, seq, range(start, start + 1000), values)
        x, y = load_series([run.pk], ["loss"], {run.pk: series_version(run)})[(run.pk, "loss")]
        assert len(x) <= 2 * DISPLAY_POINTS and np.all(np.diff(x) > 0) and x[0] == 1 and x[-1] == start + 999
    points = dict(zip(x.tolist(), y.tolist()))
    assert points[spike] == 7.0 and points[dip] == -3.0  # the extremes where they happened
    stored = dict(MetricPoint.objects.filter(run=run, step__in=list(points)).values_list("step", "value"))
    assert all(np.float32(stored[s]) == np.float32(v) for s, v in points.items())  # only stored points


def test_the_in_process_m4_is_the_reference():
    from dashboard.figures.series import m4

    rng = np.random.default_rng(4)
    steps = np.arange(1, 7001, dtype=np.int32)
    values = rng.random(7000).astype(np.float32)
    values[[100, 4567]] = [-2.0, 5.0]
    x, y = m4(steps, values, 400)
    expected = m4_reference(steps, values, int(np.ceil(7001 / 400)))
    assert x.tolist() == sorted(expected) and y.tolist() == [float(expected[s]) for s in x.tolist()]
