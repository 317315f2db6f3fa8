import torch

from bench.op_cases import Case
from fields.ops import dense_grid_render, dense_grid_render_reference, skip_distances


def cases(device):
    """A viewer-preview-like frame: a 128³ bake of a solid ball of radius 0.6 in a box of side 3, its 128³
    occupancy (cells within 0.05 of the ball) as skip distances, 128 × 128 rays from a camera 4 units away (the
    reference holds every sample of every ray at once: 128² rays need about 0.3 GB)."""
    r = 128
    axis = torch.linspace(-1.5, 1.5, r)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    radius = torch.stack([x, y, z], dim=-1).norm(dim=-1)
    values = torch.stack([50.0 * (radius < 0.6).float(), 0.5 + 0.3 * x, 0.5 + 0.3 * y, 0.5 + 0.3 * z], dim=-1)
    centres = (torch.arange(r) + 0.5) / r * 3.0 - 1.5
    cz, cy, cx = torch.meshgrid(centres, centres, centres, indexing="ij")
    occupied = torch.stack([cx, cy, cz], dim=-1).norm(dim=-1) < 0.6 + 0.05 + 3.0 / r
    aabb = torch.tensor([-1.5, -1.5, -1.5, 1.5, 1.5, 1.5])
    side = 128
    v, u = torch.meshgrid(torch.linspace(-0.5, 0.5, side), torch.linspace(-0.5, 0.5, side), indexing="ij")
    directions = torch.stack([u, v, -torch.ones_like(u)], dim=-1).reshape(-1, 3)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = torch.tensor([0.0, 0.0, 4.0]).expand_as(directions).contiguous()
    args = [t.to(device) for t in (values, skip_distances(occupied), aabb)]
    step = 3.0 / (r - 1)
    o, d = origins.to(device), directions.to(device)
    return [Case("dense_grid_render, 128^3 bake, 128x128 view", lambda: dense_grid_render(o, d, *args, step),
                 lambda: dense_grid_render_reference(o, d, *args, step), o.shape[0], "rays")]
