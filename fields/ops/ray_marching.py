"""Ray marching through a cascaded occupancy grid into packed samples (nerfacc-style), forward only.

The walk along each ray is specified in ``cuda/include/fields_core/ray_marching.h``; :func:`ray_marching_reference`
below performs the same float32 operations in pure torch and must return the same samples bit for bit.
"""
from typing import NamedTuple, Optional

import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)
from fields.ops.occupancy_grid import grid_level_aabbs
from fields.ops.ray_aabb import ray_aabb_intersect_reference

BLOCK_CELLS = 8  # cells per axis of the occupancy blocks that empty space is skipped by (kBlockCells in the kernels)


class RaySamples(NamedTuple):
    """Packed samples: ray i owns samples ``packed_info[i, 0] : packed_info[i, 0] + packed_info[i, 1]``, sorted by t."""

    ray_indices: torch.Tensor  # [S] int64
    t_starts: torch.Tensor  # [S] float32
    t_ends: torch.Tensor  # [S] float32
    packed_info: torch.Tensor  # [N, 2] int64: (first sample, number of samples)


def select_samples(samples: RaySamples, keep: torch.Tensor) -> RaySamples:
    """The samples ``keep`` selects, still packed ray after ray in their order; every ray stays (with fewer, perhaps
    no, samples).

    Args:
        samples: packed samples of N rays, S samples.
        keep: [S] bool mask or increasing int64 indices (on a GPU each mask indexing waits for the device; one
            ``nonzero`` beforehand waits once).

    Returns:
        RaySamples with the kept samples and a new ``packed_info`` [N, 2].
    """
    ray_indices = samples.ray_indices[keep]
    counts = torch.zeros_like(samples.packed_info[:, 1]).index_add_(0, ray_indices, torch.ones_like(ray_indices))
    first = torch.cumsum(counts, 0) - counts
    return RaySamples(ray_indices, samples.t_starts[keep], samples.t_ends[keep], torch.stack([first, counts], 1))


def _jitter(n: int, device: torch.device, stratified: bool, generator: Optional[torch.Generator]):
    """One uniform offset in [0, 1) per ray (in units of the first step), drawn by torch so that it is reproducible."""
    if not stratified:
        return None
    return torch.rand(n, generator=generator, device=device)


def ray_marching(
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    t_min: torch.Tensor,
    t_max: torch.Tensor,
    bitfield: torch.Tensor,
    aabb: torch.Tensor,
    levels: int,
    resolution: int,
    *,
    render_step_size: float,
    cone_angle: float = 0.0,
    max_samples_per_ray: int = 1024,
    stratified: bool = False,
    near_plane: float = 0.0,
    far_plane: float = 1e10,
    generator: Optional[torch.Generator] = None,
) -> RaySamples:
    """Marches rays ``rays_o + t * rays_d`` over ``[max(t_min, near_plane), min(t_max, far_plane)]`` and keeps the
    steps whose midpoint lies in an occupied cell (of the finest level containing it). Empty space is jumped over (to
    the next boundary of the empty cell, or of its empty block of 8³ cells, keeping the step lattice), so it costs
    one step per empty block or cell crossed.

    Args:
        rays_o: [N, 3] float32 origins.
        rays_d: [N, 3] float32 directions (t is measured in their units).
        t_min: [N] float32 start of each ray's interval (e.g. from :func:`ray_aabb_intersect`).
        t_max: [N] float32 end of each ray's interval.
        bitfield: [ceil(levels * resolution**3 / 8)] uint8, see :mod:`fields.ops.occupancy_grid`.
        aabb: [6] float32, the box of level 0; level l covers it scaled by 2**l about its centre.
        levels: number of cascade levels.
        resolution: cells per axis of each level.
        render_step_size: the step; with ``cone_angle > 0`` the step is ``clamp(t * cone_angle, render_step_size,
            1e10)``. The last step of a ray is clipped to its interval's end.
        cone_angle: 0 for uniform steps.
        max_samples_per_ray: at most this many samples per ray (the first ones along the ray).
        stratified: start each ray at ``t_min + u * step`` with one ``u ~ U[0, 1)`` per ray.
        near_plane: no sample before this distance.
        far_plane: no sample beyond this distance.
        generator: draws ``u`` (a generator on the rays' device; None uses torch's default).

    Returns:
        RaySamples: ray_indices [S] int64, t_starts [S] and t_ends [S] float32, packed_info [N, 2] int64.
    """
    jitter = _jitter(rays_o.shape[0], rays_o.device, stratified, generator)
    ray_indices, t_starts, t_ends, packed_info = torch.ops.fields.ray_marching(
        rays_o, rays_d, t_min, t_max, jitter, bitfield, aabb, levels, resolution, render_step_size, cone_angle,
        max_samples_per_ray, near_plane, far_plane,
    )
    return RaySamples(ray_indices, t_starts, t_ends, packed_info)


class _GridTables:
    """Per-level float32 tables of the grid, computed exactly as make_grid_geometry does in the kernels."""

    def __init__(self, aabb: torch.Tensor, levels: int, resolution: int, bitfield: torch.Tensor):
        boxes = grid_level_aabbs(aabb, levels)
        self.lo, self.hi = boxes[:, :3], boxes[:, 3:]
        res = torch.tensor(float(resolution), dtype=torch.float32, device=aabb.device)
        width = self.hi - self.lo
        self.cells_per_unit = res / width
        self.cell_size = width / res
        self.outer_box = boxes[-1]
        self.levels, self.resolution, self.bitfield = levels, resolution, bitfield
        self.blocks = resolution // BLOCK_CELLS if resolution % BLOCK_CELLS == 0 else 0
        if self.blocks:  # any occupied cell per 8³ block; a bitfield byte holds 8 cells along z
            shape = (levels, self.blocks, BLOCK_CELLS, self.blocks, BLOCK_CELLS, self.blocks)
            self.block_occupied = bitfield.view(shape).amax(dim=(2, 4)) != 0

    def level_of(self, x: torch.Tensor) -> torch.Tensor:
        """Finest level whose box (faces included) contains each point of x [M, 3]; -1 outside every level."""
        level = torch.full(x.shape[:1], -1, dtype=torch.int64, device=x.device)
        for lvl in reversed(range(self.levels)):
            inside = ((x >= self.lo[lvl]) & (x <= self.hi[lvl])).all(dim=-1)
            level = torch.where(inside, lvl, level)
        return level

    def cell_of(self, level: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        u = torch.floor((x - self.lo[level]) * self.cells_per_unit[level])
        return u.clamp(0, self.resolution - 1).long()

    def occupied(self, level: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        r = self.resolution
        index = ((level * r + cell[:, 0]) * r + cell[:, 1]) * r + cell[:, 2]
        return ((self.bitfield[index >> 3].long() >> (index & 7)) & 1).bool()

    def empty_region_exit(self, level, cell, o, d) -> torch.Tensor:
        """Distance at which each ray leaves its (empty) cell, or the cell's 8³ block when the block is empty."""
        lower, size = cell, torch.ones_like(cell[:, :1])
        if self.blocks:
            block = cell // BLOCK_CELLS
            empty = ~self.block_occupied[level, block[:, 0], block[:, 1], block[:, 2]]
            lower = torch.where(empty[:, None], block * BLOCK_CELLS, cell)
            size = torch.where(empty[:, None], BLOCK_CELLS, size)
        return self.exit_distance(level, lower, size, o, d)

    def exit_distance(self, level, lower, size, o, d) -> torch.Tensor:
        """Distance at which each ray leaves the cube of size³ cells starting at cell ``lower``; +inf along zero
        direction components."""
        face = (lower + (d > 0).long() * size).float()
        plane = self.lo[level] + face * self.cell_size[level]
        parallel = d == 0
        t = (plane - o) / torch.where(parallel, torch.ones_like(d), d)
        return torch.where(parallel, torch.inf, t).amin(dim=-1)


def ray_marching_reference(
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    t_min: torch.Tensor,
    t_max: torch.Tensor,
    bitfield: torch.Tensor,
    aabb: torch.Tensor,
    levels: int,
    resolution: int,
    *,
    render_step_size: float,
    cone_angle: float = 0.0,
    max_samples_per_ray: int = 1024,
    stratified: bool = False,
    near_plane: float = 0.0,
    far_plane: float = 1e10,
    generator: Optional[torch.Generator] = None,
) -> RaySamples:
    """Pure-torch twin of :func:`ray_marching`: all rays advance together, one step or one jump per iteration."""
    device, n = rays_o.device, rays_o.shape[0]

    def f32(value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=torch.float32, device=device)

    jitter = _jitter(n, device, stratified, generator)
    grid = _GridTables(aabb, levels, resolution, bitfield)
    step, cone, one, half = f32(render_step_size), f32(cone_angle), f32(1.0), f32(0.5)

    def step_size(t: torch.Tensor) -> torch.Tensor:
        if cone.item() <= 0:
            return step.expand_as(t)
        return torch.clamp(t * cone, min=step, max=f32(1e10))

    box_near, box_far, box_hit = ray_aabb_intersect_reference(rays_o, rays_d, grid.outer_box)
    t_stop = torch.where(t_max < f32(far_plane), t_max, f32(far_plane))
    t_begin = torch.where(t_min > f32(near_plane), t_min, f32(near_plane))
    t = t_begin + (jitter * step_size(t_begin) if jitter is not None else torch.zeros_like(t_begin))
    kept = torch.zeros(n, dtype=torch.int64, device=device)
    found_rays, found_starts, found_ends = [], [], []
    ids = box_hit.nonzero()[:, 0]
    while ids.numel() > 0:
        ids = ids[(t[ids] < t_stop[ids]) & (kept[ids] < max_samples_per_ray)]
        if ids.numel() == 0:
            break
        o, d, ts = rays_o[ids], rays_d[ids], t[ids]
        dt = step_size(ts)
        t_next = ts + dt
        t_end = torch.where(t_next < t_stop[ids], t_next, t_stop[ids])
        mid = (ts + t_end) * half
        x = o + mid[:, None] * d
        level = grid.level_of(x)
        in_grid = level >= 0
        level = level.clamp_min(0)
        cell = grid.cell_of(level, x)
        occupied = in_grid & grid.occupied(level, cell)

        found_rays.append(ids[occupied])
        found_starts.append(ts[occupied])
        found_ends.append(t_end[occupied])
        kept[ids[occupied]] += 1

        skip_to = torch.where(in_grid, grid.empty_region_exit(level, cell, o, d), box_near[ids])
        steps = torch.ceil((skip_to - ts) / dt - half)
        jumped = ts + torch.where(steps > one, steps, one) * dt
        t[ids] = torch.where(occupied, t_next, jumped)
        finished = ~occupied & (~in_grid & (mid > box_far[ids]) | ~(jumped > ts))
        ids = ids[~finished]

    return _pack(n, kept, found_rays, found_starts, found_ends, device)


def _pack(n, kept, found_rays, found_starts, found_ends, device) -> RaySamples:
    """Orders samples found iteration by iteration into contiguous per-ray runs (stable: t stays increasing)."""
    if not found_rays:
        found_rays = [torch.zeros(0, dtype=torch.int64, device=device)]
        found_starts = found_ends = [torch.zeros(0, dtype=torch.float32, device=device)]
    ray_indices = torch.cat(found_rays)
    order = torch.sort(ray_indices, stable=True).indices
    first = torch.cumsum(kept, 0) - kept
    return RaySamples(
        ray_indices[order], torch.cat(found_starts)[order], torch.cat(found_ends)[order], torch.stack([first, kept], 1)
    )
