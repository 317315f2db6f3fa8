"""Torch's intra-op thread count for one block of work."""
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Runs a block (or, as a decorator, each call of a function) with ``count`` intra-op threads, then restores
    the count it had."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
