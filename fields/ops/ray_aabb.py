"""Ray–axis-aligned-box intersection (slab test), forward only."""
import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)

MISS_DISTANCE = 1e10  # t_near and t_far of a ray that misses the box


def ray_aabb_intersect(
    rays_o: torch.Tensor, rays_d: torch.Tensor, aabb: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Intersects rays ``rays_o + t * rays_d`` (t >= 0) with an axis-aligned box; faces count as inside.

    Args:
        rays_o: [N, 3] float32 origins.
        rays_d: [N, 3] float32 directions, not necessarily unit length; zero components are handled exactly.
        aabb: [6] float32 (xmin, ymin, zmin, xmax, ymax, zmax), on the rays' device.

    Returns:
        (t_near [N], t_far [N], hit [N] bool). Rays starting inside the box get ``t_near = 0``; rays that miss it,
        or whose box lies behind them, get ``hit = False`` and ``t_near = t_far = 1e10``.
    """
    return torch.ops.fields.ray_aabb_intersect(rays_o, rays_d, aabb)


def ray_aabb_intersect_reference(
    rays_o: torch.Tensor, rays_d: torch.Tensor, aabb: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pure-torch twin of :func:`ray_aabb_intersect` (same float32 operations, so the same bits)."""
    lo, hi = aabb[:3], aabb[3:]
    parallel = rays_d == 0
    safe_d = torch.where(parallel, torch.ones_like(rays_d), rays_d)
    t0 = (lo - rays_o) / safe_d
    t1 = (hi - rays_o) / safe_d
    enter = torch.where(parallel, -torch.inf, torch.minimum(t0, t1))
    leave = torch.where(parallel, torch.inf, torch.maximum(t0, t1))
    inside_parallel_slabs = ((rays_o >= lo) & (rays_o <= hi) | ~parallel).all(dim=-1)
    t_near = enter.amax(dim=-1).clamp_min(0.0)
    t_far = leave.amin(dim=-1)
    hit = inside_parallel_slabs & (t_near <= t_far)
    miss = torch.full_like(t_near, MISS_DISTANCE)
    return torch.where(hit, t_near, miss), torch.where(hit, t_far, miss), hit
