"""Sampling a field's scalar (density of a radiance field, signed distance of an SDF) on a regular grid of points.

The field is evaluated in chunks of points, slab by slab along x, and the values go straight into one float32 volume
(0.5 GB at 512³); marching cubes then runs once on the whole volume, so chunking leaves no seams. The volume has one
extra layer of "outside" values around it, which closes the surface where it meets the box (a crop through an
object gives a closed, consistently oriented mesh instead of an open one).
"""
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class VolumeGrid:
    """``shape`` sample points per axis spanning ``lower``..``upper`` (inclusive) with equal ``spacing`` on every
    axis. Sample (i, j, k) sits at ``lower + (i, j, k) * spacing``."""

    lower: np.ndarray  # [3]
    spacing: float
    shape: tuple[int, int, int]

    @classmethod
    def covering(cls, bounds: Sequence[float], resolution: int) -> "VolumeGrid":
        """A grid over ``bounds`` (xmin, ymin, zmin, xmax, ymax, zmax) with ``resolution`` samples along its longest
        side and cubic cells (shorter sides get proportionally fewer samples)."""
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        bounds = np.asarray(bounds, dtype=np.float64)
        lower, extent = bounds[:3], bounds[3:] - bounds[:3]
        if not (extent > 0).all():
            raise ValueError(f"empty box {bounds.tolist()}: every max must exceed its min")
        spacing = float(extent.max()) / (resolution - 1)
        shape = tuple(int(n) for n in np.maximum(np.round(extent / spacing).astype(int) + 1, 2))
        return cls(lower, spacing, shape)

    @property
    def upper(self) -> np.ndarray:
        return self.lower + (np.asarray(self.shape) - 1) * self.spacing

    def axis(self, dim: int) -> np.ndarray:
        return self.lower[dim] + np.arange(self.shape[dim]) * self.spacing


@torch.no_grad()
def sample_volume(fn: Callable[[torch.Tensor], torch.Tensor], grid: VolumeGrid, outside: float,
                  device: torch.device | str = "cpu", chunk: int = 1 << 18,
                  needed: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> np.ndarray:
    """Evaluates ``fn`` (world points [N, 3] -> values [N]) at every grid point, or only where ``needed`` (points ->
    bool [N]) is true; the other points get ``outside``.

    Returns float32 [nx + 2, ny + 2, nz + 2]: the samples surrounded by one layer set to ``outside``; padded sample
    (i, j, k) sits at ``grid.lower + (i - 1, j - 1, k - 1) * grid.spacing``. Peak memory beyond the volume is one
    chunk of points and the field's activations for it.
    """
    nx, ny, nz = grid.shape
    volume = np.full((nx + 2, ny + 2, nz + 2), outside, dtype=np.float32)
    ys = torch.as_tensor(grid.axis(1), dtype=torch.float32, device=device)
    zs = torch.as_tensor(grid.axis(2), dtype=torch.float32, device=device)
    plane = torch.stack(torch.meshgrid(ys, zs, indexing="ij"), dim=-1).reshape(-1, 2)  # [ny * nz, 2]
    slices_per_chunk = max(1, chunk // plane.shape[0])
    xs = grid.axis(0)
    for first in range(0, nx, slices_per_chunk):
        x = torch.as_tensor(xs[first:first + slices_per_chunk], dtype=torch.float32, device=device)
        points = torch.cat([x.repeat_interleave(plane.shape[0])[:, None], plane.repeat(len(x), 1)], dim=1)
        values = torch.cat([_evaluate(fn, points[i:i + chunk], outside, needed)
                            for i in range(0, points.shape[0], chunk)])
        volume[1 + first:1 + first + len(x), 1:-1, 1:-1] = values.reshape(len(x), ny, nz).cpu().numpy()
    return volume


def _evaluate(fn, points: torch.Tensor, outside: float, needed) -> torch.Tensor:
    if needed is None:
        return fn(points).float()
    mask = needed(points)
    values = torch.full((points.shape[0],), outside, dtype=torch.float32, device=points.device)
    if mask.any():
        values[mask] = fn(points[mask]).float()
    return values


def occupied_cells(occupancy_grid, dilation: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    """points -> bool [N]: inside a cell of the finest level of a radiance field's occupancy grid that is occupied or
    within ``dilation`` cells of an occupied one. Points outside the grid's box count as occupied (they are
    evaluated). The grid marks a cell empty when its density stayed below ~2 (0.01 per 5 mm step), far below any
    useful mesh threshold, so skipping those cells changes nothing but the time."""
    occupied = occupancy_grid.binary[0].float()[None, None]
    occupied = torch.nn.functional.max_pool3d(occupied, 2 * dilation + 1, stride=1, padding=dilation)[0, 0] > 0
    aabb = occupancy_grid.aabb
    resolution = occupancy_grid.resolution

    def needed(points: torch.Tensor) -> torch.Tensor:
        cell = ((points - aabb[:3]) / (aabb[3:] - aabb[:3]) * resolution).floor().long()
        inside = ((cell >= 0) & (cell < resolution)).all(dim=1)
        cell = cell.clamp(0, resolution - 1)
        return ~inside | occupied[cell[:, 0], cell[:, 1], cell[:, 2]]

    return needed
