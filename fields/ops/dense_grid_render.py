"""Volume rendering of a dense voxel grid of density and colour in one fused pass per ray, forward only.

The viewer's baked preview of a radiance field (:mod:`fields.viewer.preview_bake`) renders through it while the
camera moves."""
import torch
import torch.nn.functional as F

import fields._native  # noqa: F401  (registers torch.ops.fields)
from fields.ops.ray_aabb import ray_aabb_intersect_reference


def dense_grid_render(rays_o: torch.Tensor, rays_d: torch.Tensor, values: torch.Tensor, skip_distance: torch.Tensor,
                      aabb: torch.Tensor, step: float, min_transmittance: float = 1e-4):
    """Renders rays through a grid of vertex values, skipping empty space.

    Args:
        rays_o, rays_d: [N, 3] float32 origins and unit directions.
        values: [D, H, W, 4] float32 (sigma, r, g, b) at the vertices of a regular grid whose corner vertices sit
            on the corners of ``aabb`` (indexed [z, y, x], as :func:`fields.ops.grid_sample_3d` with
            ``align_corners=True`` reads a [4, D, H, W] grid), read by trilinear interpolation.
        skip_distance: [C, B, A] uint8 over the cells of another regular grid on ``aabb`` (any resolution, [z, y,
            x]): 0 where samples count, elsewhere a lower bound of the distance to the nearest such cell in cells
            (Chebyshev), as :func:`skip_distances` computes it; samples in cells > 0 are skipped, far ones in jumps.
        aabb: [6] float32 (min xyz, max xyz); nothing outside it.
        step: distance between samples; a ray's samples sit at ``t_near + (k + 1/2) * step`` inside the box.
        min_transmittance: a ray stops once its transmittance falls below this.

    Returns:
        (rgb [N, 3], opacity [N], depth [N]) float32: colour not yet composited on a background, opacity, and the
        expected depth ``sum_i w_i t_i`` (0 for rays that hit nothing).
    """
    return torch.ops.fields.dense_grid_render(rays_o, rays_d, values, skip_distance, aabb, float(step),
                                              float(min_transmittance))


def skip_distances(occupied: torch.Tensor, max_distance: int = 16) -> torch.Tensor:
    """Skip distances for :func:`dense_grid_render`.

    Args:
        occupied: [C, B, A] bool cell mask ([z, y, x]).
        max_distance: cap, in [1, 254].

    Returns:
        [C, B, A] uint8: 0 in occupied cells, else the Chebyshev distance in cells to the nearest occupied one,
        capped at ``max_distance`` + 1 (a lower bound).
    """
    if not 0 < max_distance < 255:
        raise ValueError(f"skip_distances: max_distance must be in [1, 254], got {max_distance}")
    reached = occupied.float()[None, None]
    distance = torch.full(occupied.shape, max_distance + 1, dtype=torch.uint8, device=occupied.device)
    distance[occupied] = 0
    for k in range(1, max_distance + 1):  # each 3×3×3 dilation reaches one cell further
        grown = F.max_pool3d(reached, kernel_size=3, stride=1, padding=1)
        distance[(grown > reached)[0, 0]] = k
        reached = grown
    return distance


def dense_grid_render_reference(rays_o, rays_d, values, skip_distance, aabb, step: float,
                                min_transmittance: float = 1e-4):
    """Pure-torch twin of :func:`dense_grid_render`: every sample of every ray at once (memory N × samples: for
    tests and small batches), positions computed with the kernel's float operations."""
    t_near, t_far, hit = ray_aabb_intersect_reference(rays_o, rays_d, aabb)
    hit = hit & torch.isfinite(t_far)
    length = float((t_far - t_near)[hit].max()) if bool(hit.any()) else 0.0
    k = torch.arange(int(length / step) + 2, device=rays_o.device, dtype=torch.float32)
    t = t_near[:, None] + (k + 0.5) * step  # [N, K]
    inside = hit[:, None] & (t < t_far[:, None])
    lo, extent = aabb[:3], aabb[3:] - aabb[:3]

    def along_ray(resolution):  # positions [N, K, 3] in units of 1 / resolution of the box
        scale = resolution.float() / extent
        return ((rays_o - lo) * scale)[:, None] + t[..., None] * (rays_d * scale)[:, None]

    cells = torch.tensor(skip_distance.shape[::-1], device=rays_o.device)  # along x, y, z
    cell = torch.minimum(along_ray(cells).clamp(min=0).long(), cells - 1)
    counts = skip_distance[cell[..., 2], cell[..., 1], cell[..., 0]] == 0
    size = torch.tensor(values.shape[2::-1], device=rays_o.device)  # vertices along x, y, z
    u = torch.minimum(along_ray(size - 1).clamp(min=0), (size - 1).float())
    unit = u / (size - 1) * 2 - 1  # grid_sample's [-1, 1] coordinates, x first
    grid = values.permute(3, 0, 1, 2)[None]  # [1, 4, D, H, W]
    sampled = F.grid_sample(grid, unit[None, :, :, None], mode="bilinear", align_corners=True)[0, :, :, :, 0]
    sigma = torch.where(inside & counts, sampled[0].clamp(min=0), 0.0)
    alpha = 1 - torch.exp(-sigma * step)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], dim=1), dim=1)
    # A ray stops after the sample that takes its transmittance below the threshold.
    weights = torch.where(transmittance >= min_transmittance, transmittance * alpha, 0.0)
    rgb = (weights[..., None] * sampled[1:].permute(1, 2, 0)).sum(dim=1)
    return rgb, weights.sum(dim=1), (weights * t).sum(dim=1)
