"""Camera poses to distil from: random views around the scene (PVD's default), the teacher's training views
(``--real-views``), and small perturbations of poses (PVD-AL's hard poses).

The teacher renders the targets, so no image is needed: a set of poses only has to say where rays go.
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch

from fields.datasets import SceneData, generate_rays

NERF_SYNTHETIC_FOV_X = 0.6911112070083618  # radians; used when the teacher's scene is not at hand
DEFAULT_SIZE = 400
RADIUS_PER_HALF_EXTENT = 2.7  # NeRF-synthetic: cameras at radius ~4 around a box of half-extent 1.5


@dataclass
class Views:
    """A set of pinhole cameras: c2w [P, 4, 4] (OpenGL axes), intrinsics [P, 4] (fx, fy, cx, cy), one image size."""

    c2w: torch.Tensor
    intrinsics: torch.Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.c2w.shape[0])

    def to(self, device) -> "Views":
        return Views(self.c2w.to(device), self.intrinsics.to(device), self.width, self.height)

    def sample_rays(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` rays through random points of random pixels of random views: (origins, directions, view index)."""
        device = self.c2w.device
        view = torch.randint(len(self), (n,), device=device, generator=generator)
        size = torch.tensor([self.width, self.height], dtype=torch.float32, device=device)
        pixels = torch.rand(n, 2, device=device, generator=generator) * size
        origins, directions = generate_rays(self.c2w[view], self.intrinsics[view], pixels)
        return origins, directions, view

    def __add__(self, other: "Views") -> "Views":
        if (other.width, other.height) != (self.width, self.height):
            raise ValueError(f"cannot join views of {other.width}x{other.height} to views of {self.width}x{self.height}")
        return Views(torch.cat([self.c2w, other.c2w]), torch.cat([self.intrinsics, other.intrinsics]),
                     self.width, self.height)


@dataclass
class Orbit:
    """Where random views are drawn: on a sphere of ``radius`` about ``centre``, looking at it, between two
    elevations (degrees above the plane normal to ``up``)."""

    centre: torch.Tensor  # [3]
    radius: float
    up: torch.Tensor  # [3], unit
    min_elevation: float
    max_elevation: float
    intrinsics: torch.Tensor  # [4]
    width: int
    height: int

    @classmethod
    def around_box(cls, aabb: torch.Tensor) -> "Orbit":
        """The NeRF-synthetic setup scaled to the box: +Z up, elevations 0-80 degrees (PVD's range)."""
        aabb = aabb.float().cpu()
        half_extent = float((aabb[3:] - aabb[:3]).max()) / 2.0
        focal = 0.5 * DEFAULT_SIZE / math.tan(0.5 * NERF_SYNTHETIC_FOV_X)
        return cls((aabb[:3] + aabb[3:]) / 2.0, RADIUS_PER_HALF_EXTENT * half_extent, torch.tensor([0.0, 0.0, 1.0]),
                   0.0, 80.0, torch.tensor([focal, focal, DEFAULT_SIZE / 2, DEFAULT_SIZE / 2]), DEFAULT_SIZE,
                   DEFAULT_SIZE)

    @classmethod
    def of_cameras(cls, scene: SceneData) -> "Orbit":
        """The orbit of a scene's cameras: their mean distance to the box centre, their mean up vector, the range of
        their elevations, the first camera's intrinsics."""
        centre = (scene.aabb[:3] + scene.aabb[3:]) / 2.0
        offsets = scene.c2w[:, :3, 3] - centre
        up = scene.c2w[:, :3, 1].mean(dim=0)
        up = up / up.norm().clamp_min(1e-8)
        distance = offsets.norm(dim=-1)
        elevation = torch.rad2deg(torch.asin((offsets @ up / distance.clamp_min(1e-8)).clamp(-1.0, 1.0)))
        return cls(centre, float(distance.mean()), up, float(elevation.min()), float(elevation.max()),
                   scene.intrinsics[0].clone(), scene.width, scene.height)

    def sample(self, count: int, generator: torch.Generator) -> Views:
        """``count`` views spread uniformly over the sphere zone (so low elevations, which cover more of it, get
        more views, as in PVD), each looking at the centre."""
        lo, hi = (math.sin(math.radians(e)) for e in (self.min_elevation, self.max_elevation))
        u = torch.rand(count, 2, generator=generator)
        z = lo + (hi - lo) * u[:, 0]
        azimuth = 2.0 * math.pi * u[:, 1]
        e1, e2 = _basis_normal_to(self.up)
        ring = (1.0 - z * z).clamp_min(0.0).sqrt()
        directions = ring[:, None] * (torch.cos(azimuth)[:, None] * e1 + torch.sin(azimuth)[:, None] * e2)
        directions = directions + z[:, None] * self.up
        positions = self.centre + self.radius * directions
        c2w = torch.stack([look_at(p, self.centre, self.up) for p in positions])
        return Views(c2w, self.intrinsics.expand(count, 4).clone(), self.width, self.height)


def look_at(position: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Camera-to-world [4, 4] (OpenGL axes: looks down -Z, +Y up) of a camera at ``position`` facing ``target``."""
    forward = target - position
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if float(right.norm()) < 1e-6:  # looking straight along up: any right vector will do
        right = _basis_normal_to(forward)[0]
    right = right / right.norm()
    true_up = torch.linalg.cross(right, forward)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, -forward, position
    return c2w


def perturb(views: Views, count: int, translation: float, rotation_degrees: float,
            generator: torch.Generator, weights: Optional[torch.Tensor] = None) -> Views:
    """``count`` views near ``views`` (drawn with ``weights``, uniformly by default): each camera moved by a normal
    offset of std ``translation`` (world units) and turned by a random axis-angle of std ``rotation_degrees``."""
    device = views.c2w.device
    weights = torch.ones(len(views)) if weights is None else weights.float().cpu()
    pick = torch.multinomial(weights, count, replacement=True, generator=generator).to(device)
    noise = torch.randn(count, 6, generator=generator).to(device)
    rotation = _axis_angle_matrix(noise[:, :3] * math.radians(rotation_degrees))
    c2w = views.c2w[pick].clone()
    c2w[:, :3, :3] = rotation @ c2w[:, :3, :3]
    c2w[:, :3, 3] += noise[:, 3:] * translation
    return Views(c2w, views.intrinsics[pick].clone(), views.width, views.height)


def _axis_angle_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [N, 3, 3] of axis-angle vectors [N, 3] (Rodrigues)."""
    angle = v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = v / angle
    zero = torch.zeros_like(k[:, 0])
    cross = torch.stack([zero, -k[:, 2], k[:, 1], k[:, 2], zero, -k[:, 0], -k[:, 1], k[:, 0], zero], -1)
    cross = cross.view(-1, 3, 3)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return torch.eye(3, device=v.device) + s * cross + (1.0 - c) * (cross @ cross)


def _basis_normal_to(axis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit vectors that make an orthonormal basis with unit ``axis``."""
    helper = torch.tensor([1.0, 0.0, 0.0]) if abs(float(axis[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    e1 = torch.linalg.cross(axis, helper)
    e1 = e1 / e1.norm()
    return e1, torch.linalg.cross(axis, e1)
