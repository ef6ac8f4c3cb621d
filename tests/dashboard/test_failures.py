"""A failed run or analysis says what went wrong and the fix, in a sentence; the traceback is
logged, not shown."""
import errno

import pytest

from dashboard import executor
from dashboard.models import Experiment, Run, Status
from dashboard.worker.failures import explain
from dashboard.worker.training import execute_run
from tests.dashboard.conftest import TINY
from trainer.fields import ConfigError


def test_it_names_the_path_and_the_fix_for_a_folder_the_worker_may_not_write(settings):
    text = explain(PermissionError(errno.EACCES, "Permission denied", "/runs/run-7"))
    assert text.startswith("the worker may not write /runs/run-7 (Permission denied). Make that folder writable")
    assert f"LBLAB_RUNS_DIR (now {settings.LBLAB_RUNS_DIR})" in text and "Traceback" not in text


def test_it_says_a_full_disk_is_full_and_keeps_the_settings_message():
    assert explain(OSError(errno.ENOSPC, "No space left on device", "/runs/x")).startswith(
        "the disk is full writing /runs/x. Free space there")
    assert explain(ConfigError("lr", "must be positive")).startswith("lr: must be positive")
    assert explain(RuntimeError("x" * 10_000)).endswith("(the worker's log has the traceback)")
    assert len(explain(RuntimeError("x" * 10_000))) < 2100


@pytest.mark.django_db
def test_a_run_whose_folder_cannot_be_made_fails_with_that_sentence(alice, settings, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder should be")
    settings.LBLAB_RUNS_DIR = blocker / "runs"
    exp = Experiment.objects.create(owner=alice, name="unwritable", config=TINY.to_dict())
    run = executor.create_runs(exp)[0]
    assert execute_run(run.pk, task_id="t") == Status.FAILED
    error = Run.objects.get(pk=run.pk).error
    assert error.startswith(f"the worker cannot make the folder {blocker}") and "part of that path is a file" in error
    assert "LBLAB_RUNS_DIR" in error
    assert "Traceback" not in error
    assert "Traceback" in caplog.text  # the log keeps it
