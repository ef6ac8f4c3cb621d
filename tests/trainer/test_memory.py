"""trainer.memory: on CPU a freed block stays in the process, and the next step reuses it
without the kernel zero-filling its pages again."""
import platform
import resource

import pytest
import torch

import trainer.train
from trainer.config import TrainConfig
from trainer.memory import retain_freed_memory
from trainer.train import Trainer

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def page_faults(fn) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc malloc's")
def test_steps_reuse_the_memory_the_steps_before_freed_without_faulting_it_in_again():
    assert retain_freed_memory() and retain_freed_memory()  # once per process; asking again is harmless
    block = 64 * 2**20  # bytes: above glibc's own largest mmap threshold (32 MiB), like C1's activations

    def step():  # two activations and a gradient, freed at the end, as a training step allocates
        a, b = torch.ones(block // 4), torch.ones(block // 4)
        return float((a * b)[0])

    faults = [page_faults(step) for _ in range(12)]
    pages = 3 * block // resource.getpagesize()
    # (the first steps may grow the heap, unless earlier work in this process grew it already)
    # glibc's default maps fresh blocks every step, and the kernel zero-fills every page again
    assert sum(faults[-4:]) < pages // 10, faults


def test_a_cpu_run_keeps_freed_memory_for_its_next_step(monkeypatch):
    calls = []
    monkeypatch.setattr(trainer.train, "retain_freed_memory", lambda: calls.append(True) or True)
    Trainer(TrainConfig(dataset="mnist1d", net="mlp", width=8, depth=1, subset=64, epochs=1, threads=1)).run()
    assert calls
