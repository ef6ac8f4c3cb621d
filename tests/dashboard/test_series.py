import numpy as np
import pytest

from dashboard.models import MetricPoint
from dashboard.figures.series import CLOCK_POINTS, DISPLAY_POINTS, load_clocks, load_series

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


def test_it_reduces_a_long_curve_keeping_each_buckets_extremes(experiment):
    run = experiment.runs.first()
    rng = np.random.default_rng(0)
    steps = np.arange(1, 50001)
    values = np.exp(-steps / 10000) + 0.2 * rng.random(len(steps))
    values[31234] = -5.0  # a single spike each way must survive
    values[777] = 9.0
    _store(run, "loss", steps, values)
    x, y = load_series([run.pk], ["loss"])[(run.pk, "loss")]
    assert DISPLAY_POINTS // 2 < len(x) <= DISPLAY_POINTS + 2
    assert np.all(np.diff(x) > 0) and x[0] == 1 and x[-1] == 50000
    assert y.min() == np.float32(-5.0) and y.max() == np.float32(9.0)
    # every bucket's min and max, computed independently from the full curve
    width = int(np.ceil(50001 / (DISPLAY_POINTS // 2)))
    buckets = steps // width
    for b in (0, 17, int(buckets[-1])):
        inside = values[buckets == b]
        shown = y[(x // width) == b]
        assert np.isclose(shown.min(), inside.min(), atol=1e-6) and np.isclose(shown.max(), inside.max(), atol=1e-6)


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
