"""Metric names as stored in MetricPoint.name, and what their x (step) means."""

STEP_METRICS = ("loss", "acc")  # x: global optimisation step
EPOCH_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "dist_init", "lr")  # x: epoch
ALL_METRICS = STEP_METRICS + EPOCH_METRICS
