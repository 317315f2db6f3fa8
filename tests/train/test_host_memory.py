"""The malloc tuning of CPU training, measured in page faults in a fresh process (a clean heap: in the test
process, earlier tests leave the heap in whatever state they leave it)."""
import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the malloc tuning applies to glibc only")

SCRIPT = """
import json, os, resource, torch
from fields.run.host_memory import keep_freed_host_memory, usual_host_memory

def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def step_like_cycle():  # tensors of a training step's sizes; the largest is a hash-table gradient (64 MiB)
    tensors = [torch.zeros(n) for n in (16 << 20, 4 << 20, 1 << 20, 16 << 20)]
    del tensors

def faults_per_cycle(warm_cycles=6, cycles=3):
    for _ in range(warm_cycles):  # the heap settles within a few cycles
        step_like_cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        step_like_cycle()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / cycles

result = {"usual": faults_per_cycle()}
result["applied"] = keep_freed_host_memory()
result["tuned"] = faults_per_cycle()
kept = resident_mib()
with usual_host_memory():
    result["released_mib"] = kept - resident_mib()
result["tuned_again"] = faults_per_cycle()
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def faults() -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# A cycle touches 148 MiB, ~38 000 pages of 4 KiB; blocks handed back to the kernel fault them in again.
def test_freed_blocks_are_reused_without_page_faults(faults):
    assert faults["applied"]
    assert faults["usual"] > 5000
    assert faults["tuned"] < 1000


def test_evaluations_start_from_released_memory_and_training_gets_its_tuning_back(faults):
    assert faults["released_mib"] > 100  # the 148 MiB the cycles freed go back to the kernel
    assert faults["tuned_again"] < 1000
