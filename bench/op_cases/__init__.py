"""One module per native op; each defines ``cases(device)`` returning a list of :class:`bench.op_cases.Case`."""
from dataclasses import dataclass
from typing import Callable


@dataclass
class Case:
    name: str  # what is measured, e.g. "hash_encode fwd+bwd, 16x2, 2^19"
    native: Callable[[], object]  # runs the native op once
    reference: Callable[[], object]  # runs its pure-torch reference once on the same inputs
    items: int  # work per call (points, samples, rays, pixels)
    unit: str  # what `items` counts, e.g. "points"
