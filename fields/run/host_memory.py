"""Host-memory tuning for training on the CPU: keep freed memory for the next step instead of returning it.

glibc's malloc hands every block above its mmap threshold (at most 32 MiB) back to the kernel on free and maps a
fresh one on the next malloc, and trims its heaps' free tops. A training step allocates and frees the same large
tensors every time (the hash table's gradient alone is 67 MB), so each step page-faults them in again, zero-filled
page by page: about 16 000 faults and 40 ms of kernel time per lego step on 2 cores (bench.nerf_profile). With
the thresholds raised and the heap grown in large pieces, after a few steps every step reuses the memory of the
one before it: no page faults, 1.06-1.31x faster lego steps side by side, 9 % more steps in a 10-minute run
(BENCHMARKS.md).

The cost is memory kept that another phase could have used: an evaluation pass, whose buffers have other sizes,
would pile up on top of it (lego: peak RSS 3.3 GB instead of 2.0), so evaluations run inside
:func:`usual_host_memory`, which restores the usual behaviour for their duration.

This is process-wide and only tunes glibc; elsewhere (macOS, Windows, musl) both functions do nothing.
"""
import ctypes
import ctypes.util
from contextlib import contextmanager
from typing import Iterator

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt parameters, from glibc's malloc.h
# (mmap threshold, trim threshold, top pad) in bytes; mallopt takes C ints.
TRAINING = (1 << 30, (1 << 31) - 1, 256 << 20)  # blocks below 1 GiB from the heap, free heap kept, grown 256 MiB
USUAL = (128 << 10, 128 << 10, 0)  # glibc's defaults (it then stops adapting its mmap threshold, which is harmless)

_libc = None  # set by keep_freed_host_memory() once it has applied


def _mallopt_all(libc, settings: tuple[int, int, int]) -> bool:
    mmap_threshold, trim_threshold, top_pad = settings
    return all([libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold), libc.mallopt(M_TRIM_THRESHOLD, trim_threshold),
                libc.mallopt(M_TOP_PAD, top_pad)])


def keep_freed_host_memory() -> bool:
    """Tunes glibc's malloc for training steps as described in the module docstring; returns whether it applied."""
    global _libc
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError, TypeError):  # no C library by that name, or not glibc's malloc
        return False
    if not _mallopt_all(libc, TRAINING):
        return False
    _libc = libc
    return True


@contextmanager
def usual_host_memory() -> Iterator[None]:
    """Runs a block (an evaluation pass) with malloc's usual thresholds, after handing the training steps' freed
    memory back to the kernel; the training tuning returns afterwards. A no-op unless keep_freed_host_memory() has
    applied."""
    if _libc is None:
        yield
        return
    _mallopt_all(_libc, USUAL)
    _libc.malloc_trim(0)
    try:
        yield
    finally:
        _mallopt_all(_libc, TRAINING)
