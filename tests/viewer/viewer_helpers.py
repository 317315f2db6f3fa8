"""Shared pieces of the viewer tests: analytic fields with the field contract, waiting, pixel checks."""
import time

import numpy as np
import torch

from bench.viewer_client import ViserProtocolClient  # noqa: F401 (tests import it from here)

SPHERE_RADIUS = 0.6
SPHERE_RGB = (0.9, 0.1, 0.1)


class AnalyticRadianceField(torch.nn.Module):
    """The field contract around an analytic ``density`` and ``color``: inside a cube of ``half_size``, nothing to
    "train", so viewer tests run in seconds."""
    signal = "radiance"
    field_type = "analytic"
    config: dict = {}

    def __init__(self, half_size: float):
        super().__init__()
        self.register_buffer("aabb", torch.tensor([-half_size] * 3 + [half_size] * 3))

    def forward(self, x, d):
        sigma, h = self.density(x)
        return sigma, self.color(h, d)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def size_mb(self) -> float:
        return 4 * self.num_parameters() / 1e6


class RedSphereField(AnalyticRadianceField):
    """An opaque red sphere at the origin: its picture is known exactly."""

    def __init__(self, half_size: float = 1.5):
        super().__init__(half_size)
        self.scale = torch.nn.Parameter(torch.ones(()))  # something for training-like code to hold

    def density(self, x):
        inside = (x.norm(dim=-1) < SPHERE_RADIUS).float()
        return inside * 200.0 * self.scale, torch.zeros(x.shape[0], 16, device=x.device)

    def color(self, h, d):
        return torch.tensor(SPHERE_RGB, device=h.device).expand(h.shape[0], 3)


class SphereSdf(torch.nn.Module):
    """An analytic SDF field: a sphere of radius 0.5 in [-1, 1]^3."""
    signal = "sdf"
    field_type = "analytic"

    def __init__(self, radius: float = 0.5):
        super().__init__()
        self.radius = radius
        self.register_buffer("aabb", torch.tensor([-1.0] * 3 + [1.0] * 3))

    def sdf(self, x):
        return x.norm(dim=-1) - self.radius

    def num_parameters(self) -> int:
        return 0

    def size_mb(self) -> float:
        return 0.0


def wait_for(condition, timeout: float = 20.0, interval: float = 0.02) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def red_pixels(image: np.ndarray) -> int:
    """Pixels of the procedural scene's red sphere (strongly red, little green and blue)."""
    rgb = image[..., :3].astype(np.int32)
    return int(((rgb[..., 0] > 140) & (rgb[..., 1] < 110) & (rgb[..., 2] < 110)).sum())
