"""`manage.py runlab` as a user runs it: everything starts, Ctrl-C leaves nothing running."""
import re
import time

from tests.dashboard.labprocess import alive, command_line, descendants, start_lab


def test_it_starts_everything_prints_a_login_and_leaves_nothing_after_ctrl_c(tmp_path):
    lab = start_lab(tmp_path)
    try:
        children = descendants(lab.process.pid)
        commands = " | ".join(command_line(p) for p in children)
        assert lab.login_status == 200
        assert "redis-server" in commands and "celery" in commands and "daphne" in commands
        assert re.search(r"running at http://127\.0\.0\.1:\d+/", lab.output())
        assert lab.admin_password()
        assert (tmp_path / "var" / "db.sqlite3").exists()
    finally:
        assert lab.stop() == 0
    time.sleep(0.5)
    assert [p for p in children if alive(p)] == [], lab.output()[-3000:]


def test_it_uses_the_given_redis_and_starts_none(tmp_path, redis_url):
    lab = start_lab(tmp_path, REDIS_URL=redis_url, LBLAB_QUEUE_PREFIX="launcher-test-")
    try:
        children = descendants(lab.process.pid)
        assert not any("redis-server" in command_line(p) for p in children)
        assert "embedded Redis" not in lab.output()
    finally:
        assert lab.stop() == 0
    time.sleep(0.5)
    assert [p for p in children if alive(p)] == []


def test_it_does_not_create_a_second_account(tmp_path):
    lab = start_lab(tmp_path)
    lab.stop()
    again = start_lab(tmp_path)
    try:
        assert "password" not in again.output() and "Log in with your account" in again.output()
    finally:
        again.stop()
