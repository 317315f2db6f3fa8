"""Native maintenance ops of the cascaded occupancy grid (the user-facing class is fields.render.OccupancyGrid).

Cell (l, x, y, z) of a grid with ``levels`` levels of ``resolution``³ cells has the linear index
``((l * R + x) * R + y) * R + z``; level l covers the scene box scaled by 2**l about its centre.
"""
import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)


def occupancy_ema_update_(
    occupancy: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, decay: float
) -> torch.Tensor:
    """EMA-max update, in place: every cell decays, ``occupancy *= decay``, then evaluated cells take
    ``max(decayed, value)``.

    Args:
        occupancy: [C] float32, contiguous; cells holding a negative value are masked out (never updated).
        indices: [M] int64 in [0, C), the evaluated cells; a repeated index takes the largest of its values.
        values: [M] float32 occupancy of the evaluated cells.
        decay: EMA factor applied to every cell.

    Returns:
        ``occupancy`` itself.
    """
    torch.ops.fields.occupancy_ema_update_(occupancy, indices, values, decay)
    return occupancy


def occupancy_ema_update_reference(
    occupancy: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, decay: float
) -> torch.Tensor:
    """Pure-torch twin of :func:`occupancy_ema_update_`; returns the updated grid as a new tensor."""
    valid = occupancy >= 0
    decayed = torch.where(valid, occupancy * torch.tensor(decay, dtype=torch.float32), occupancy)
    raised = decayed.scatter_reduce(0, indices, values, reduce="amax", include_self=True)
    return torch.where(valid, raised, occupancy)


def pack_bitfield(binary: torch.Tensor) -> torch.Tensor:
    """Packs a flat grid into bits: cell i is bit ``i & 7`` of byte ``i >> 3``; padding bits are 0.

    Args:
        binary: [C] bool.

    Returns:
        [ceil(C / 8)] uint8.
    """
    return torch.ops.fields.pack_bitfield(binary)


def pack_bitfield_reference(binary: torch.Tensor) -> torch.Tensor:
    """Pure-torch twin of :func:`pack_bitfield`."""
    padded = torch.zeros(-(-binary.numel() // 8) * 8, dtype=torch.uint8, device=binary.device)
    padded[: binary.numel()] = binary.to(torch.uint8)
    weights = torch.tensor([1 << j for j in range(8)], dtype=torch.uint8, device=binary.device)
    return (padded.view(-1, 8) * weights).sum(dim=1, dtype=torch.uint8)


def grid_level_aabbs(aabb: torch.Tensor, levels: int) -> torch.Tensor:
    """Boxes [levels, 6] float32 of the cascade levels of ``aabb`` [6]: level 0 is ``aabb`` itself, level l >= 1 is
    centre ± half · 2**l (the same float32 operations as the native kernels)."""
    # Python scalars, not torch.tensor(..., device=aabb.device): on a GPU every such tensor is a host-to-device copy
    # that waits for the stream, and this runs at every training step. Powers of two are exact in float32, so the
    # float32 arithmetic is unchanged.
    lo, hi = aabb[:3], aabb[3:]
    centre = (lo + hi) * 0.5
    half = (hi - lo) * 0.5
    boxes = [aabb]
    for level in range(1, levels):
        extent = half * float(1 << level)
        boxes.append(torch.cat([centre - extent, centre + extent]))
    return torch.stack(boxes)
