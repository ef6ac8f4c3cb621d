"""One settings module, read from the environment (every variable is in .env.example).

Defaults need no setup: SQLite and a secret key under var/, and the embedded Redis whose
URL the launcher passes in LBLAB_EMBEDDED_REDIS_URL when REDIS_URL is unset.
"""
from __future__ import annotations

import os
import pathlib
import secrets
from datetime import timedelta

import dj_database_url

from dashboard.celery import ANALYSIS_TASK, RECOVER_TASK, TRAIN_TASK
from dashboard.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = pathlib.Path(__file__).resolve().parent.parent
VAR_DIR = pathlib.Path(env_str("LBLAB_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _cores() -> int:
    """The cores this process may run on (its affinity, as a container or taskset limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _dev_secret_key() -> str:
    """Generated once and kept in var/, so sessions survive restarts of a dev lab."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _dev_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

LBLAB_DATA_DIR = env_str("LBLAB_DATA_DIR", str(BASE_DIR / "data"))
pathlib.Path(LBLAB_DATA_DIR).mkdir(parents=True, exist_ok=True)  # generated datasets are cached there
LBLAB_RUNS_DIR = pathlib.Path(env_str("LBLAB_RUNS_DIR", str(VAR_DIR / "runs"))).resolve()
# The torch device this worker trains on (e.g. cuda); unset: the run's own setting (cpu by default).
LBLAB_DEVICE = env_str("LBLAB_DEVICE")
# A running run whose heartbeat is older than this is taken as lost and resumed.
LBLAB_STALE_AFTER_S = env_float("LBLAB_STALE_AFTER_S", 600.0, minimum=1.0)
# runlab's worker processes, each training or analysing one thing at a time (one per core by
# default, as the CLI runs one single-threaded process per core), and the torch threads a run
# or an analysis computes with (the cores shared out among them); a run's config says what it used.
LBLAB_WORKERS = env_int("LBLAB_WORKERS", _cores(), 1)
LBLAB_THREADS_PER_RUN = env_int("LBLAB_THREADS_PER_RUN", max(1, _cores() // LBLAB_WORKERS), 1)
# Training slots across all workers, for the experiments' ETA: runlab's workers by default; set
# it on a web host whose workers run elsewhere (docker-compose: the worker services' count).
LBLAB_TRAIN_SLOTS = env_int("LBLAB_TRAIN_SLOTS", LBLAB_WORKERS, 1)
# A message received by a worker but not claimed within this many seconds is taken as lost
# (its worker died on receipt) and its run or analysis is queued again.
LBLAB_CLAIM_TIMEOUT_S = env_float("LBLAB_CLAIM_TIMEOUT_S", 120.0, minimum=1.0)
# Live metric flushes: at most one per this many seconds per run.
LBLAB_FLUSH_INTERVAL_S = env_float("LBLAB_FLUSH_INTERVAL_S", 0.3, minimum=0.0)

# What one experiment or analysis may ask for (dashboard/limits.py); LBLAB_MAX_EPOCHS and so on.
LIMITS = {
    "max_epochs": env_int("LBLAB_MAX_EPOCHS", 5000, 1),
    "max_seeds": env_int("LBLAB_MAX_SEEDS", 20, 1),
    "max_list": env_int("LBLAB_MAX_LIST", 32, 1),  # batch sizes of a sweep, remedies, ...
    "max_runs": env_int("LBLAB_MAX_RUNS", 200, 1),  # per experiment, dependent runs included
    "max_analyses": env_int("LBLAB_MAX_ANALYSES", 400, 1),  # queued by one experiment's plan
    "max_analysis_samples": env_int("LBLAB_MAX_ANALYSIS_SAMPLES", 60000, 1),
    "max_subspace_dim": env_int("LBLAB_MAX_SUBSPACE_DIM", 10000, 1),
}

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "dashboard.middleware.refuse_nul_characters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 answer
]

# Login throttling (django-axes): after LBLAB_LOGIN_FAILURES wrong passwords for one username
# from one address, that pair is locked out for LBLAB_LOGIN_COOLOFF_MIN minutes (429).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("LBLAB_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("LBLAB_LOGIN_FAILURES", 10, 1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LBLAB_LOGIN_COOLOFF_MIN", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_COOLOFF_MESSAGE = "Too many failed logins for this account from your address; try again in a few minutes."
AXES_IPWARE_PROXY_COUNT = env_int("LBLAB_PROXY_COUNT", 0, 0)  # reverse proxies in front that set X-Forwarded-For

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# threads per web process for the requests' middleware, views and queries (dashboard/handler.py);
# each keeps its database connection for CONN_MAX_AGE seconds
WEB_THREADS = env_int("LBLAB_WEB_THREADS", 2, 1)

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes metrics; IMMEDIATE avoids
    # "database is locked" on read-then-write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # a file, not memory: tests start worker processes that must see the test database
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "experiment-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# collectstatic's output: every file under a content-hashed name, with a gzip copy (and a
# brotli one when the brotli package is installed) that WhiteNoise sends to a browser that
# accepts it, hashed names with a year-long immutable Cache-Control. Derived from the code,
# not from a lab's data: shared by every lab of the checkout whatever its LBLAB_VAR_DIR.
# `runlab` and the tests collect when the sources changed (dashboard/launch/staticfiles.py).
STATIC_ROOT = pathlib.Path(env_str("LBLAB_STATIC_ROOT", str(BASE_DIR / "var" / "static"))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "dashboard.staticfinders.BokehJSFinder",  # BokehJS from the bokeh package, never a CDN
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# With DEBUG the sources are served as they are, unhashed, from the finders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Built once, read by every web process: the plots' Bokeh skeletons (per shape) and the
# runs' reduced curves (dashboard/figures/series.py). Files under var/, so a restarted server starts warm.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "figures": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(VAR_DIR / "cache" / "figures"), "TIMEOUT": None,
                "OPTIONS": {"MAX_ENTRIES": env_int("LBLAB_FIGURE_CACHE_ENTRIES", 5000, 10)}},
}

# --- Redis: channel layer and Celery broker share one server ------------------------------
# LBLAB_QUEUE_PREFIX keeps labs (or test sessions) that share one Redis apart.
QUEUE_PREFIX = env_str("LBLAB_QUEUE_PREFIX", "")
REDIS_URL = env_str("REDIS_URL") or env_str("LBLAB_EMBEDDED_REDIS_URL") or "redis://127.0.0.1:6379/0"

# The channel layer (dashboard/live/layer.py): "pubsub" publishes a group message once and each
# web process hands it to its own streams; "core" copies it onto every stream's own Redis list.
# Every process of a lab (web, workers) must use the same one.
CHANNEL_LAYER = env_choice("LBLAB_CHANNEL_LAYER", "pubsub", ["pubsub", "core"])
# channels_redis's lists layer waits up to 5 s for a consumer's next message; redis-py's default
# socket timeout is also 5 s, which dropped every idle stream. A read may take three times the wait.
# After a Redis restart the pooled connections are dead: the layer retries each operation on a
# fresh connection, with a short backoff, for about 3 s.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": {"pubsub": "dashboard.live.layer.RetryingRedisPubSubChannelLayer",
                    "core": "dashboard.live.layer.RetryingRedisChannelLayer"}[CHANNEL_LAYER],
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15.0, "health_check_interval": 30}],
                   "prefix": f"{QUEUE_PREFIX}lblab", **({"capacity": 1000} if CHANNEL_LAYER == "core" else {})},
    },
}

# --- Celery: settings for runs that last hours ------------------------------------------
CELERY_BROKER_URL = REDIS_URL
# An unacknowledged message is redelivered after visibility_timeout; set far beyond the
# longest run so a healthy run is never started twice. Lost workers are found by heartbeat.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("LBLAB_VISIBILITY_TIMEOUT_S", 7 * 24 * 3600, 3600)}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # results live on the Run and Analysis rows
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues: "train" and "analysis" are shared; a GPU host runs one worker per GPU with its
# own queue first, e.g. `celery -A dashboard worker -Q gpu0,train,analysis -c 1` with
# CUDA_VISIBLE_DEVICES=0. Runs given an explicit queue (Run.queue) go there.
# The "control" queue has its own small worker (with beat), so recovering lost work never
# waits for a free training slot.
TRAIN_QUEUE, ANALYSIS_QUEUE = f"{QUEUE_PREFIX}train", f"{QUEUE_PREFIX}analysis"
CONTROL_QUEUE = f"{QUEUE_PREFIX}control"
CELERY_TASK_DEFAULT_QUEUE = TRAIN_QUEUE
CELERY_TASK_ROUTES = {
    TRAIN_TASK: {"queue": TRAIN_QUEUE},
    ANALYSIS_TASK: {"queue": ANALYSIS_QUEUE},
    RECOVER_TASK: {"queue": CONTROL_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "recover-stale-runs": {
        "task": RECOVER_TASK,
        "schedule": max(10.0, min(LBLAB_STALE_AFTER_S, LBLAB_CLAIM_TIMEOUT_S) / 2),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "filters": {"redis_outage": {"()": "dashboard.live.layer.RedisOutageFilter"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"},  # lockouts only, not every login
                "channels_redis.pubsub": {"filters": ["redis_outage"]}},  # a line a minute while Redis is down
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True
# LBLAB_HTTPS: the lab is served over HTTPS (a production host). Off, the embedded default works
# over plain http on 127.0.0.1; on, `manage.py check --deploy` has nothing to say.
LBLAB_HTTPS = env_bool("LBLAB_HTTPS", env_bool("SECURE_COOKIES", False))
if LBLAB_HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("LBLAB_HSTS_SECONDS", 365 * 24 * 3600, 1)
    # strict by default; turning either off is a choice for the domain, so its check is silenced
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("LBLAB_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("LBLAB_HSTS_PRELOAD", True)
    SILENCED_SYSTEM_CHECKS = ([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]) + (
        [] if SECURE_HSTS_PRELOAD else ["security.W021"])
    if AXES_IPWARE_PROXY_COUNT:  # TLS ends at the proxy, which says so in X-Forwarded-Proto
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
