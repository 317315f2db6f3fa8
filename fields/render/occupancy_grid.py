"""Cascaded occupancy grid (Instant-NGP / nerfacc style): which cells of space may hold matter, kept up to date from
a field's density, and the ray sampler that skips the empty ones."""
from typing import Callable, Optional, Sequence

import torch

from fields.ops.occupancy_grid import grid_level_aabbs, occupancy_ema_update_, pack_bitfield
from fields.ops.ray_aabb import ray_aabb_intersect
from fields.ops.ray_marching import RaySamples, ray_marching


class OccupancyGrid(torch.nn.Module):
    """``levels`` grids of ``resolution``³ cells; level l covers ``aabb`` scaled by 2**l about its centre.

    Args:
        aabb: (xmin, ymin, zmin, xmax, ymax, zmax) of level 0.
        resolution: cells per axis of each level.
        levels: number of cascade levels.

    Buffers (saved in the state dict): ``aabb`` [6], ``occupancy`` [levels, R³] float32 (EMA-max of the evaluated
    occupancy; a negative value masks a cell out), ``binary`` [levels, R, R, R] bool and ``bitfield`` (``binary``
    packed, the form ray marching reads). Cell (l, x, y, z) is ``binary[l, x, y, z]``.
    """

    def __init__(self, aabb: Sequence[float], resolution: int = 128, levels: int = 1):
        super().__init__()
        aabb = torch.as_tensor(aabb, dtype=torch.float32).flatten()
        if aabb.numel() != 6 or not bool((aabb[3:] > aabb[:3]).all()):
            raise ValueError(f"OccupancyGrid: aabb must be (xmin, ymin, zmin, xmax, ymax, zmax) with max > min, "
                             f"got {aabb.tolist()}")
        if resolution < 1 or levels < 1:
            raise ValueError(f"OccupancyGrid: resolution and levels must be >= 1, got {resolution}, {levels}")
        self.resolution, self.levels = int(resolution), int(levels)
        cells = self.resolution**3
        self.register_buffer("aabb", aabb)
        self.register_buffer("occupancy", torch.zeros(levels, cells))
        self.register_buffer("binary", torch.zeros(levels, resolution, resolution, resolution, dtype=torch.bool))
        self.register_buffer("bitfield", pack_bitfield(self.binary.view(-1)))

    @property
    def cells_per_level(self) -> int:
        return self.resolution**3

    def level_aabbs(self) -> torch.Tensor:
        """Boxes [levels, 6] of the levels, finest first."""
        return grid_level_aabbs(self.aabb, self.levels)

    @torch.no_grad()
    def mark_all_occupied(self) -> None:
        """Marks every cell occupied (the EMA is untouched: the next update() recomputes ``binary`` from it)."""
        self.binary.fill_(True)
        self.bitfield.copy_(pack_bitfield(self.binary.view(-1)))

    def occupied_fraction(self) -> float:
        return float(self.binary.float().mean())

    @torch.no_grad()
    def update(
        self,
        step: int,
        occ_eval_fn: Callable[[torch.Tensor], torch.Tensor],
        *,
        occ_threshold: float = 0.01,
        ema_decay: float = 0.95,
        warmup_steps: int = 256,
        update_every: int = 16,
        chunk_size: int = 1 << 18,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        """Refreshes the grid from a field: every cell's EMA decays, evaluated cells take ``max(decayed, value)``.

        Args:
            step: the training step; the grid is updated only when ``step % update_every == 0``.
            occ_eval_fn: world points [M, 3] float32 -> occupancy [M] (e.g. density × step size).
            occ_threshold: cells above ``min(mean occupancy of the cells >= 0, occ_threshold)`` become occupied.
            ema_decay: factor applied to every cell's EMA.
            warmup_steps: before this step every cell is evaluated; afterwards a quarter of each level's cell count
                drawn at random (with replacement, as nerfacc and Instant-NGP do; a permutation of every cell costs
                far more) plus all occupied cells, each at a point drawn uniformly in the cell.
            update_every: update period in steps.
            chunk_size: most points ``occ_eval_fn`` sees at a time.
            generator: for the drawn cells and points (None: torch's default).
        """
        if step % update_every != 0:
            return
        indices = self._cells_to_evaluate(step < warmup_steps, generator)
        values = torch.empty(indices.shape[0], dtype=torch.float32, device=indices.device)
        for start in range(0, indices.shape[0], chunk_size):
            chunk = indices[start : start + chunk_size]
            evaluated = occ_eval_fn(self._jittered_cell_points(chunk, generator))
            if evaluated.numel() != chunk.shape[0]:
                raise ValueError(f"OccupancyGrid.update: occ_eval_fn returned {tuple(evaluated.shape)} for "
                                 f"{chunk.shape[0]} points; it must return one occupancy per point")
            values[start : start + chunk_size] = evaluated.reshape(-1)
        occupancy_ema_update_(self.occupancy.view(-1), indices, values, ema_decay)
        self._binarize(occ_threshold)

    @torch.no_grad()
    def sample(
        self,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        *,
        render_step_size: float,
        near_plane: float = 0.0,
        far_plane: float = 1e10,
        cone_angle: float = 0.0,
        max_samples_per_ray: int = 1024,
        stratified: bool = False,
        generator: Optional[torch.Generator] = None,
    ) -> RaySamples:
        """Samples along rays inside occupied cells: clips the rays to the outermost level's box, then marches.

        Args:
            rays_o: [N, 3] float32 origins, on the grid's device.
            rays_d: [N, 3] float32 directions.
            render_step_size, near_plane, far_plane, cone_angle, max_samples_per_ray, stratified, generator: as
                :func:`fields.ops.ray_marching`.

        Returns:
            RaySamples: ray_indices [S] int64, t_starts [S], t_ends [S] float32, packed_info [N, 2] int64.
        """
        t_near, t_far, _ = ray_aabb_intersect(rays_o, rays_d, self.level_aabbs()[-1].contiguous())
        return ray_marching(
            rays_o, rays_d, t_near, t_far, self.bitfield, self.aabb, self.levels, self.resolution,
            render_step_size=render_step_size, cone_angle=cone_angle, max_samples_per_ray=max_samples_per_ray,
            stratified=stratified, near_plane=near_plane, far_plane=far_plane, generator=generator,
        )

    def _cells_to_evaluate(self, all_cells: bool, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Linear indices (over all levels) of the cells to evaluate; a cell may appear twice (the update takes the
        larger value)."""
        cells, device = self.cells_per_level, self.occupancy.device
        if all_cells:
            return torch.arange(self.levels * cells, device=device)
        per_level = []
        for level in range(self.levels):
            quarter = torch.randint(cells, (cells // 4,), generator=generator, device=device)
            occupied = self.binary[level].view(-1).nonzero()[:, 0]
            per_level.append(torch.cat([quarter, occupied]) + level * cells)
        return torch.cat(per_level)

    def _jittered_cell_points(self, indices: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """One uniformly drawn world point inside each cell of ``indices`` (linear, over all levels)."""
        r = self.resolution
        level, cell = indices // self.cells_per_level, indices % self.cells_per_level
        ijk = torch.stack([cell // (r * r), (cell // r) % r, cell % r], dim=-1)
        boxes = self.level_aabbs()[level]
        lo, hi = boxes[:, :3], boxes[:, 3:]
        u = torch.rand(ijk.shape, generator=generator, device=indices.device)
        return lo + (ijk + u) * ((hi - lo) / r)

    def _binarize(self, occ_threshold: float) -> None:
        valid = self.occupancy[self.occupancy >= 0]
        mean = float(valid.mean()) if valid.numel() > 0 else occ_threshold
        threshold = min(mean, occ_threshold)
        self.binary.copy_((self.occupancy > threshold).view_as(self.binary))
        self.bitfield.copy_(pack_bitfield(self.binary.view(-1)))
