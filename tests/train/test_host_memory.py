import platform
import resource

import pytest
import torch

from fields.train.host_memory import keep_freed_host_memory, usual_host_memory

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the malloc tuning applies to glibc only")


def _step_like_cycle() -> None:
    """Allocates, fills and frees tensors of a training step's sizes (the largest is a hash-table gradient)."""
    tensors = [torch.zeros(n) for n in (16 << 20, 4 << 20, 1 << 20, 16 << 20)]
    del tensors


def _page_faults_per_cycle(warm_cycles: int = 6, cycles: int = 3) -> float:
    for _ in range(warm_cycles):  # the heap settles within a few cycles
        _step_like_cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        _step_like_cycle()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / cycles


# A cycle touches 148 MiB, ~38 000 pages of 4 KiB; blocks handed back to the kernel fault them in again.
def test_freed_blocks_are_reused_without_page_faults():
    assert keep_freed_host_memory()
    assert _page_faults_per_cycle() < 1000


def test_evaluations_get_the_usual_malloc_and_training_its_tuning_back():
    assert keep_freed_host_memory()
    with usual_host_memory():
        assert _page_faults_per_cycle() > 5000  # large blocks are mapped and returned again, as by default
    assert _page_faults_per_cycle() < 1000
