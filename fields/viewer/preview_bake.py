"""A baked preview of a radiance field for the viewer's moving frames: density and a view-independent colour
evaluated once on a dense grid over the scene box, then rendered by the core's fused dense-grid renderer.

A hash-grid field costs a backbone and a colour MLP per sample, far too slow on a CPU for 10 frames/s while the
camera moves; a sample of the bake costs one trilinear lookup, and :func:`fields.ops.dense_grid_render` marches,
looks up and composites each ray in one pass, skipping the occupancy grid's empty cells and stopping at opaque
surfaces."""
import contextlib
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from fields.ops.dense_grid_render import dense_grid_render, skip_distances
from fields.render.camera import PinholeCamera

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
    """Density and colour on the vertices of a ``resolution``³ grid spanning ``aabb`` (``values`` [R, R, R, 4]:
    sigma then rgb, indexed [z, y, x]), and the skip distances of the occupancy grid's cells at bake time
    (``skip_distance`` [z, y, x], see :func:`fields.ops.skip_distances`): the preview samples where the field's
    own render samples. Zero density outside the box, as the field has."""

    def __init__(self, aabb: torch.Tensor, values: torch.Tensor, skip_distance: torch.Tensor, *, version=None,
                 seconds: float = 0.0, evaluated: int = 0):
        self.aabb, self.values, self.skip_distance = aabb, values, skip_distance
        self.version = version  # the field version (training step) it was baked from
        self.seconds = seconds  # how long the bake took
        self.evaluated = evaluated  # grid vertices the field was evaluated at (the rest are empty space)

    @property
    def resolution(self) -> int:
        return self.values.shape[0]

    @property
    def voxel_size(self) -> float:
        """Largest spacing between grid vertices: finer ray steps than this find no more detail in the bake."""
        return float(((self.aabb[3:] - self.aabb[:3]) / (self.resolution - 1)).max())

    @torch.no_grad()
    def render(self, camera: PinholeCamera, *, background: float = 1.0, step: float | None = None) -> dict:
        """rgb [H, W, 3] on a uniform background, opacity and depth [H, W], as
        :func:`fields.render.camera.render_camera` returns them for the field; ``step`` defaults to one voxel."""
        origins, directions = camera.rays(self.values.device)
        rgb, opacity, depth = dense_grid_render(origins, directions, self.values, self.skip_distance, self.aabb,
                                                step or self.voxel_size)
        rgb = rgb + (1.0 - opacity)[:, None] * background
        h, w = camera.height, camera.width
        return {"rgb": rgb.reshape(h, w, 3), "opacity": opacity.reshape(h, w), "depth": depth.reshape(h, w)}


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
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")  # the [D, H, W] = [z, y, x] order of the values
    points = lo + torch.stack([x, y, z], dim=-1).reshape(-1, 3) * (hi - lo)
    directions = (TETRAHEDRON if directions is None else directions).to(device=device, dtype=torch.float32)
    if not torch.equal(grid.aabb.float(), field.aabb.float()):
        raise ValueError(f"bake_radiance: the occupancy grid's box {grid.aabb.tolist()} differs from the field's "
                         f"{field.aabb.tolist()}; the preview needs the grid the field was trained with")
    with guard():  # training updates the occupancy grid in place
        keep = near_occupied_cells(grid, points, (hi - lo) / (resolution - 1)).nonzero()[:, 0]
        skip_distance = skip_distances(grid.binary[0].permute(2, 1, 0).contiguous())  # [x, y, z] -> [z, y, x]
    values = torch.zeros(points.shape[0], 4, device=device)
    for first in range(0, keep.shape[0], chunk):
        index = keep[first : first + chunk]
        with guard():
            sigma, h = field.density(points[index])
            rgb = sum(field.color(h, d.expand(index.shape[0], 3)) for d in directions) / directions.shape[0]
        values[index, 0] = sigma.float()
        values[index, 1:] = rgb.float()
    return BakedRadiance(torch.cat([lo, hi]), values.reshape(resolution, resolution, resolution, 4), skip_distance,
                         version=version, seconds=time.perf_counter() - start, evaluated=int(keep.shape[0]))
