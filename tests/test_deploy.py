"""docker-compose.yml parses, and brings up what a deployment needs.

No Docker engine runs here: `docker-compose config` parses and resolves the file
without one.
"""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    proc = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_it_has_web_worker_redis_and_postgres(compose):
    assert set(compose["services"]) == {"web", "worker", "control", "redis", "postgres"}
    control = compose["services"]["control"]["command"]
    control = " ".join(control) if isinstance(control, list) else control
    assert "celery -A dashboard worker" in control and "-Q control" in control and "--beat" in control
    for name in ("web", "worker", "control"):
        assert compose["services"][name]["restart"] == "unless-stopped"
    for name in ("web", "worker", "control"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"


def test_each_worker_reserves_one_gpu_and_takes_the_shared_queues(compose):
    worker = compose["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    command = " ".join(worker["command"]) if isinstance(worker["command"], list) else worker["command"]
    assert "celery -A dashboard worker" in command and "-Q train,analysis" in command
    assert "--prefetch-multiplier=1" in command
    assert worker["environment"]["LBLAB_DEVICE"] == "cuda"


def test_the_web_and_each_worker_know_how_many_workers_there_are(compose):
    # the web's ETA counts that many training slots; a worker shares the host's cores among them
    for name in ("web", "worker"):
        assert compose["services"][name]["environment"]["LBLAB_WORKERS"] == "1"


def test_the_image_collects_its_static_files_with_brotli_copies():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.index("pip install --no-cache-dir brotli") < dockerfile.index("manage.py collectstatic")


def test_the_web_service_serves_the_asgi_app_after_migrating():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "migrate" in dockerfile and "python -m dashboard.launch.web" in dockerfile
    from dashboard.launch import web

    assert web.server_command(type("Socket", (), {"fileno": lambda self: 3})())[-1] == "dashboard.asgi:application"


def _check_deploy(**env) -> subprocess.CompletedProcess:
    import os
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "LBLAB_HTTPS", "SECURE_COOKIES")}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env={**base, **env})


def test_production_settings_from_the_environment_pass_the_deploy_check():
    import secrets

    done = _check_deploy(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), LBLAB_HTTPS="true",
                         ALLOWED_HOSTS="lab.example.org")
    assert done.returncode == 0 and "no issues" in done.stdout, done.stdout + done.stderr


def test_the_embedded_default_stays_on_plain_http():
    done = _check_deploy(DEBUG="false")
    # what a production host must set is named; the local lab keeps working over http on 127.0.0.1
    assert "security.W008" in done.stderr and "security.W012" in done.stderr
