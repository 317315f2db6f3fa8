"""Analytic fields with known surfaces, for testing the exporters without training: the procedural scene's objects
as a radiance field (density a steep sigmoid of the signed distance, colour the object's albedo), a sphere SDF, and
a small hash field fitted to the former."""
import math

import torch
from torch import nn

from fields.datasets.procedural import OBJECTS, Sphere

SCENE_BOX = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5)


def scene_sdf(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(signed distance [N] to the union of the procedural objects, index [N] of the nearest object)."""
    distances = torch.stack([_object_sdf(x, obj) for obj in OBJECTS], dim=1)
    return distances.min(dim=1)


def scene_bounds() -> torch.Tensor:
    """The exact axis-aligned box [6] of the union of the objects."""
    lows, highs = [], []
    for obj in OBJECTS:
        if isinstance(obj, Sphere):
            lows.append([c - obj.radius for c in obj.centre])
            highs.append([c + obj.radius for c in obj.centre])
        else:
            c, s = math.cos(obj.yaw), math.sin(obj.yaw)
            hx, hy, hz = obj.half_extent
            ex, ey = abs(c) * hx + abs(s) * hy, abs(s) * hx + abs(c) * hy
            lows.append([obj.centre[0] - ex, obj.centre[1] - ey, obj.centre[2] - hz])
            highs.append([obj.centre[0] + ex, obj.centre[1] + ey, obj.centre[2] + hz])
    return torch.tensor(lows).min(0).values.tolist() + torch.tensor(highs).max(0).values.tolist()


def _object_sdf(x: torch.Tensor, obj) -> torch.Tensor:
    centre = torch.tensor(obj.centre, dtype=x.dtype)
    if isinstance(obj, Sphere):
        return (x - centre).norm(dim=1) - obj.radius
    c, s = math.cos(obj.yaw), math.sin(obj.yaw)
    world_to_box = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], dtype=x.dtype)
    q = ((x - centre) @ world_to_box.T).abs() - torch.tensor(obj.half_extent, dtype=x.dtype)
    return q.clamp_min(0.0).norm(dim=1) + q.max(dim=1).values.clamp_max(0.0)


class AnalyticRadianceField(nn.Module):
    """Density ``peak * sigmoid(-sdf / width)`` (a surface about ``width`` thick), colour the nearest object's
    albedo whatever the view direction."""

    signal = "radiance"

    def __init__(self, peak: float = 200.0, width: float = 0.01):
        super().__init__()
        self.register_buffer("aabb", torch.tensor(SCENE_BOX))
        self.peak, self.width = peak, width
        self.albedo = torch.tensor([obj.colour for obj in OBJECTS])

    def density(self, x):
        distance, nearest = scene_sdf(x)
        h = torch.zeros(x.shape[0], 16)
        h[:, 0], h[:, 1:4] = distance, self.albedo[nearest]
        return self.peak * torch.sigmoid(-distance / self.width), h

    def color(self, h, d):
        return h[:, 1:4]

    def forward(self, x, d):
        sigma, h = self.density(x)
        return sigma, self.color(h, d)


class SphereSdf(nn.Module):
    signal = "sdf"

    def __init__(self, centre=(0.1, -0.2, 0.05), radius: float = 0.6):
        super().__init__()
        self.register_buffer("aabb", torch.tensor((-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)))
        self.centre, self.radius = torch.tensor(centre), radius

    def sdf(self, x):
        return (x - self.centre).norm(dim=1) - self.radius

    def forward(self, x):
        return self.sdf(x)


def fit_radiance_field(steps: int = 150, seed: int = 0):
    """A small hash radiance field regressed directly onto :class:`AnalyticRadianceField` (log-density and colour at
    random points): a stand-in for a trained field that takes seconds instead of minutes. Returns (field, occupancy
    grid, optimizer)."""
    from fields.models import make_field
    from fields.render import OccupancyGrid

    torch.manual_seed(seed)
    target = AnalyticRadianceField(peak=100.0, width=0.02)
    field = make_field("radiance", "hash", log2_hashmap_size=13, n_levels=6, finest_resolution=64)
    optimizer = torch.optim.Adam(field.parameters(), lr=2e-2)
    for _ in range(steps):
        x = torch.rand(4096, 3) * 2.4 - 1.2
        d = torch.nn.functional.normalize(torch.randn_like(x), dim=-1)
        with torch.no_grad():
            sigma_target, h_target = target.density(x)
        sigma, h = field.density(x)
        color_error = ((field.color(h, d) - h_target[:, 1:4]) ** 2).sum(-1) * (sigma_target > 1.0)
        loss = ((torch.log1p(sigma) - torch.log1p(sigma_target)) ** 2).mean() + color_error.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    field.eval()
    grid = OccupancyGrid(field.aabb.tolist(), resolution=32)
    with torch.no_grad():
        grid.update(0, lambda x: field.density(x)[0] * 5e-3, warmup_steps=1)
    return field, grid, optimizer
