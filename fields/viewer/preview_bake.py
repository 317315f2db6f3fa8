"""A baked preview of a radiance field for the viewer's moving frames: density and a view-independent colour
evaluated once on a dense grid over the scene box, then looked up by trilinear interpolation.

A hash-grid field costs a backbone and a colour MLP per sample, far too slow on a CPU for 10 frames/s while the
camera moves; a lookup in the bake costs one trilinear sample. :class:`BakedRadiance` answers the field's call
``(positions, directions) -> (sigma, rgb)``, so :func:`fields.render.camera.render_camera` renders it through the
same occupancy grid, ray marcher and compositing as the field itself."""
import contextlib
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from fields.ops.grid_sample import grid_sample_3d

# The corners of a regular tetrahedron: 4 directions spread evenly over the sphere, no axis preferred (for
# when nothing is known about the captures).
TETRAHEDRON = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]) / 3**0.5


def training_view_directions(c2w: torch.Tensor, count: int = 4) -> torch.Tensor:
    """Unit viewing directions [count, 3] of ``count`` evenly spaced cameras of ``c2w`` [N, 4, 4] (OpenGL axes,
    looking down -Z): directions the field was trained on, where its colour is trustworthy."""
    picked = torch.linspace(0, c2w.shape[0] - 1, min(count, c2w.shape[0])).round().long()
    forward = -c2w[picked, :3, 2].float()
    return forward / forward.norm(dim=-1, keepdim=True)


class BakedRadiance:
    """Density and colour on the vertices of a ``resolution``³ grid spanning ``aabb`` (``features`` [4, R, R, R]:
    sigma then rgb, indexed [channel, z, y, x] as grid_sample_3d reads them). Zero density outside the box, as
    the field has."""

    def __init__(self, aabb: torch.Tensor, features: torch.Tensor, *, version=None, seconds: float = 0.0,
                 evaluated: int = 0):
        self.aabb, self.features = aabb, features
        self.version = version  # the field version (training step) it was baked from
        self.seconds = seconds  # how long the bake took
        self.evaluated = evaluated  # grid vertices the field was evaluated at (the rest are empty space)

    @property
    def resolution(self) -> int:
        return self.features.shape[-1]

    @property
    def voxel_size(self) -> float:
        """Largest spacing between grid vertices: finer ray steps than this find no more detail in the bake."""
        return float(((self.aabb[3:] - self.aabb[:3]) / (self.resolution - 1)).max())

    def __call__(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unit = (x - self.aabb[:3]) / (self.aabb[3:] - self.aabb[:3]) * 2.0 - 1.0
        inside = (unit.abs() <= 1.0).all(dim=-1)
        out = grid_sample_3d(self.features, unit.contiguous(), align_corners=True)  # [N, 4]
        return out[:, 0] * inside, out[:, 1:]


def near_occupied_cells(grid, points: torch.Tensor, reach: torch.Tensor) -> torch.Tensor:
    """True for points within ``reach`` [3] (world units) of an occupied cell of the grid's finest level. A
    trilinear lookup inside an occupied cell reads the bake's vertices up to one bake voxel away, so those
    vertices must hold the field's values even when they lie in an empty cell. Points outside the finest
    level's box are kept: nothing is known there."""
    r = grid.resolution
    lo, hi = grid.aabb[:3], grid.aabb[3:]
    radius = int(math.ceil(float((reach / ((hi - lo) / r)).max())))
    dilated = grid.binary[0].float()[None, None]  # [1, 1, x, y, z]
    for axis in range(3):  # a box dilation is three 1-D ones: 3 (2r + 1) instead of (2r + 1)³ reads per cell
        kernel = [1, 1, 1]
        kernel[axis] = 2 * radius + 1
        padding = [0, 0, 0]
        padding[axis] = radius
        dilated = F.max_pool3d(dilated, kernel, stride=1, padding=padding)
    dilated = dilated[0, 0] > 0
    inside = ((points >= lo) & (points <= hi)).all(dim=-1)  # the far faces belong to the last cells
    cell = ((points - lo) / (hi - lo) * r).floor().long().clamp(0, r - 1)
    return dilated[cell[:, 0], cell[:, 1], cell[:, 2]] | ~inside


@torch.no_grad()
def bake_radiance(field, grid, resolution: int = 128, *, directions: torch.Tensor | None = None,
                  guard: Callable = contextlib.nullcontext, chunk: int = 1 << 15, version=None) -> BakedRadiance:
    """Bakes ``field`` (the radiance contract: ``density(x) -> (sigma, h)``, ``color(h, d)``) at the vertices of a
    ``resolution``³ grid over its scene box, skipping vertices far from the occupancy grid's occupied cells.

    The colour is the mean of ``color(h, d)`` over ``directions`` [K, 3] (unit; default 4 directions spread
    evenly over the sphere). One fixed direction would paint that side's highlights and shading onto every view;
    the mean over a few directions approximates the diffuse colour. A few, because each costs a colour-head pass
    about as expensive as the hash backbone's on a CPU. Pass directions the field was trained on
    (:func:`training_view_directions`): a field's colour for directions it never saw (e.g. from below a
    hemisphere capture) is guesswork.

    ``guard()`` is held around each chunk of ``chunk`` points (the training lock), so a running training waits
    for one chunk at a time, not for the whole bake."""
    if resolution < 2:
        raise ValueError(f"bake_radiance: resolution must be at least 2 (vertices per axis), got {resolution}")
    start = time.perf_counter()
    device = field.aabb.device
    lo, hi = field.aabb[:3].float(), field.aabb[3:].float()
    axis = torch.linspace(0.0, 1.0, resolution, device=device)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")  # the [D, H, W] = [z, y, x] order of the features
    points = lo + torch.stack([x, y, z], dim=-1).reshape(-1, 3) * (hi - lo)
    directions = (TETRAHEDRON if directions is None else directions).to(device=device, dtype=torch.float32)
    with guard():  # training updates the occupancy grid in place
        keep = near_occupied_cells(grid, points, (hi - lo) / (resolution - 1)).nonzero()[:, 0]
    values = torch.zeros(points.shape[0], 4, device=device)
    for first in range(0, keep.shape[0], chunk):
        index = keep[first : first + chunk]
        with guard():
            sigma, h = field.density(points[index])
            rgb = sum(field.color(h, d.expand(index.shape[0], 3)) for d in directions) / directions.shape[0]
        values[index, 0] = sigma.float()
        values[index, 1:] = rgb.float()
    features = values.T.reshape(4, resolution, resolution, resolution).contiguous()
    return BakedRadiance(torch.cat([lo, hi]), features, version=version, seconds=time.perf_counter() - start,
                         evaluated=int(keep.shape[0]))
