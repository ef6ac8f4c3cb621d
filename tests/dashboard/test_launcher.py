"""`manage.py runlab` as a user runs it: everything starts, a dead worker is restarted, Ctrl-C leaves
nothing running."""
import os
import re
import signal
import time
import urllib.request

from tests.dashboard.labprocess import alive, command_line, descendants, start_lab
from tests.dashboard.pagecheck import lab_shell
from tests.dashboard.workers import wait_until


def test_it_starts_everything_prints_a_login_and_leaves_nothing_after_ctrl_c(tmp_path):
    lab = start_lab(tmp_path)
    try:
        children = descendants(lab.process.pid)
        commands = " | ".join(command_line(p) for p in children)
        assert lab.login_status == 200
        assert "redis-server" in commands and "celery" in commands
        assert sum("daphne --fd" in command_line(p) for p in children) == 2  # LBLAB_WEB_PROCESSES, one port
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


# long enough (about 0.6 s an epoch on a quiet core) to be still training when the test kills its worker
EPOCHS = 80
START_ONE_RUN = r"""
from django.contrib.auth import get_user_model
from dashboard import executor
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

spec = ExperimentSpec(epochs=%d, seeds=1, subset=512, sb_batch=16, lb_batch=256)
exp = executor.start(get_user_model().objects.get(username="admin"), "killed worker", KINDS["gap"], spec)
exp.runs.get(role="LB").request_cancel()
print("RUN", exp.runs.get(role="SB").pk)
""" % EPOCHS


def _run_state(lab, run_id: int) -> str:
    return lab_shell(lab, f"from dashboard.models import Run; r = Run.objects.get(pk={run_id}); "
                          f"print('STATE', r.status, r.points.filter(name='train_loss').count(), r.worker)"
                     ).split("STATE ")[-1]


def _training_worker(lab, name: str) -> int:
    """The main process of the worker named `name` (lab-<launcher pid>-<i>@host)."""
    return next(p for p in descendants(lab.process.pid)
                if "celery" in command_line(p) and f"--hostname {name.split('@')[0]}@" in command_line(p)
                and os.getpgid(p) == p)


def test_it_restarts_a_killed_worker_keeps_the_web_up_leaves_no_orphan_and_the_run_finishes(tmp_path):
    lab = start_lab(tmp_path)
    try:
        run_id = int(lab_shell(lab, START_ONE_RUN).split("RUN ")[-1])
        def past_first_epoch(state):
            return state.startswith("running") and int(state.split()[1]) >= 1

        # each look is a manage.py process (a second of CPU): look every 3 s, so as not to starve the lab's worker
        wait_until(lambda: past_first_epoch(_run_state(lab, run_id)), 300,
                   f"the run to be past its first epoch\n{lab.output()[-3000:]}", interval=3)
        holder = _run_state(lab, run_id).split()[2]  # of the lab's workers, the one training the run
        worker = _training_worker(lab, holder)
        group = [p for p in descendants(lab.process.pid) if os.getpgid(p) == worker]  # its pool child, ...
        assert len(group) >= 2
        os.kill(worker, signal.SIGKILL)
        child = f"worker {holder.split('@')[0].rsplit('-', 1)[1]}"
        wait_until(lambda: f"the {child} process exited with code -9; restarting it" in lab.output(), 30,
                   f"the launcher to restart the worker\n{lab.output()[-3000:]}")
        with urllib.request.urlopen(lab.url + "/accounts/login/", timeout=5) as response:
            assert response.status == 200  # the web server stayed up
        wait_until(lambda: not any(alive(p) for p in group), 15, "the killed worker's group to be gone")
        assert _training_worker(lab, holder) != worker
        # the new worker, under the same name, queues again the run its predecessor held, at once
        wait_until(lambda: _run_state(lab, run_id).startswith("done"), 240,
                   f"the run to finish\n{lab.output()[-3000:]}", interval=2)
        assert _run_state(lab, run_id).split()[:2] == ["done", str(EPOCHS)]
    finally:
        assert lab.stop() == 0
