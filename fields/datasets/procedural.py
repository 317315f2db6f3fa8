"""A small procedural scene the project renders itself, written in Blender format, for tests and demos.

Four opaque, diffusely lit objects (three spheres and a rotated box, each its own colour) inside [-1.1, 1.1]^3 on a
transparent background, seen by cameras on the upper hemisphere at radius 4 looking at the origin (like
NeRF-synthetic). Each pixel is the exact ray-surface intersection, supersampled for antialiased colour and alpha
(edges get fractional alpha, like the Blender renders). Shading is Lambertian under a fixed light, so colour does
not depend on the view direction and a radiance field can fit the scene exactly.

``textured=True`` adds a floor disk under the objects and multiplies each surface's colour by a solid texture
(random plane waves, fixed in space), so feature detectors such as SIFT find many distinct, view-consistent
points: structure-from-motion tests recover the cameras from these renders.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fields.datasets.rays import generate_rays, pixel_grid
from fields.threads import torch_threads

CAMERA_ANGLE_X = 0.6911112070083618  # NeRF-synthetic's field of view
CAMERA_RADIUS = 4.0
LIGHT_DIRECTION = (0.35, -0.45, 0.82)  # towards the light, world axes (+Z up)
AMBIENT = 0.3
TEXTURE_WAVES = 24
TEXTURE_FREQUENCY = (4.0, 16.0)  # cycles per world unit; the objects span about two units
TEXTURE_SEED = 7
FLOOR = (-0.8, 2.5)  # textured scenes stand on a disk: (height, radius), under the lowest object
FLOOR_COLOUR = (0.8, 0.8, 0.75)


@dataclass(frozen=True)
class Sphere:
    centre: tuple[float, float, float]
    radius: float
    colour: tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    centre: tuple[float, float, float]
    half_extent: tuple[float, float, float]
    yaw: float  # rotation about +Z, radians
    colour: tuple[float, float, float]


OBJECTS = (
    Sphere((0.0, 0.0, 0.3), 0.55, (0.85, 0.2, 0.15)),
    Sphere((0.65, -0.55, -0.25), 0.35, (0.15, 0.35, 0.9)),
    Sphere((-0.6, 0.55, -0.3), 0.3, (0.95, 0.8, 0.2)),
    Box((-0.35, -0.45, -0.5), (0.45, 0.3, 0.3), math.radians(30.0), (0.2, 0.75, 0.3)),
)


def make_procedural_scene(out_dir: str | Path, n_train: int = 20, n_val: int = 4, n_test: int = 4, size: int = 64,
                          seed: int = 0, supersample: int = 3) -> Path:
    """Render the scene to ``out_dir`` in Blender format (transforms_{train,val,test}.json + RGBA PNGs); splits with
    zero views are not written. Deterministic for a given ``seed`` (it picks the cameras). Returns ``out_dir``."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    views = {"train": _hemisphere_cameras(n_train, rng), "val": _random_cameras(n_val, rng),
             "test": _random_cameras(n_test, rng)}
    focal = 0.5 * size / math.tan(0.5 * CAMERA_ANGLE_X)
    intrinsics = torch.tensor([[focal, focal, 0.5 * size, 0.5 * size]], dtype=torch.float32)
    for split, poses in views.items():
        if len(poses) == 0:
            continue
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for index, pose in enumerate(poses):
            rgba = render_view(torch.from_numpy(pose).float(), intrinsics[0], size, size, supersample)
            pixels = np.clip(np.rint(rgba.numpy() * 255.0), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(out_dir / split / f"r_{index}.png")
            frames.append({"file_path": f"./{split}/r_{index}", "transform_matrix": pose.tolist()})
        transforms = {"camera_angle_x": CAMERA_ANGLE_X, "frames": frames}
        (out_dir / f"transforms_{split}.json").write_text(json.dumps(transforms, indent=2))
    return out_dir


# The per-view tensors are small: intra-op threads cost more than they save (10x on a loaded 2-core machine).
@torch_threads(1)
def render_view(c2w: torch.Tensor, intrinsics: torch.Tensor, width: int, height: int, supersample: int = 3,
                textured: bool = False, backdrop_radius: float = 0.0) -> torch.Tensor:
    """The scene seen by one camera: float32 [H, W, 4] straight-alpha RGBA, ``supersample``² rays per pixel.
    With ``backdrop_radius`` > 0 the rays that miss every object see the backdrop sphere (opaque)."""
    sub = (torch.arange(supersample, dtype=torch.float32) + 0.5) / supersample - 0.5  # offsets inside a pixel
    centres = pixel_grid(width, height)  # [H*W, 2]
    offsets = torch.stack(torch.meshgrid(sub, sub, indexing="xy"), dim=-1).reshape(-1, 2)  # [S*S, 2]
    pixels = (centres[:, None, :] + offsets[None]).reshape(-1, 2)
    origins, directions = generate_rays(c2w[None], intrinsics[None], pixels)
    colour, hit = shade(origins, directions, textured)
    if backdrop_radius > 0:
        colour = torch.where(hit[:, None], colour, backdrop_colour(origins, directions, backdrop_radius))
        hit = torch.ones_like(hit)
    colour = colour.reshape(height * width, -1, 3)
    hit = hit.reshape(height * width, -1, 1).float()
    alpha = hit.mean(dim=1)
    rgb = (colour * hit).sum(dim=1) / hit.sum(dim=1).clamp_min(1.0)  # mean colour of the rays that hit
    return torch.cat([rgb, alpha], dim=-1).reshape(height, width, 4)


def shade(origins: torch.Tensor, directions: torch.Tensor, textured: bool = False
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(colour [B, 3], hit [B] bool) of the nearest surface along each ray; colour is 0 where nothing is hit."""
    origins, directions = origins.T.contiguous(), directions.T.contiguous()  # [3, B]: fast per-axis arithmetic
    nearest = torch.full(origins.shape[1:], math.inf)
    normal = torch.zeros_like(origins)
    albedo = torch.zeros_like(origins)
    surfaces = [(*_intersect(origins, directions, obj), obj.colour) for obj in OBJECTS]
    if textured:
        surfaces.append((*_intersect_floor(origins, directions), FLOOR_COLOUR))
    for t, n, colour in surfaces:
        closer = t < nearest
        nearest = torch.where(closer, t, nearest)
        normal = torch.where(closer, n, normal)
        albedo = torch.where(closer, torch.tensor(colour)[:, None], albedo)
    hit = torch.isfinite(nearest)
    light = torch.tensor(LIGHT_DIRECTION) / torch.tensor(LIGHT_DIRECTION).norm()
    lambert = (normal * light[:, None]).sum(0).clamp_min(0.0)
    if textured:
        albedo = albedo * solid_texture(origins + directions * torch.nan_to_num(nearest, posinf=0.0))
    colour = albedo * (AMBIENT + (1.0 - AMBIENT) * lambert) * hit
    return colour.T, hit


def solid_texture(points: torch.Tensor) -> torch.Tensor:
    """Brightness factor in [0.1, 1] at ``points`` [3, B]: a sum of plane waves with fixed random directions,
    frequencies and phases. The pattern is fixed in space (the same from every view) and never repeats, so local
    image patches are distinct, which feature matching needs (a regular checker gives ambiguous matches).
    """
    waves = torch.Generator().manual_seed(TEXTURE_SEED)
    directions = torch.nn.functional.normalize(torch.randn(TEXTURE_WAVES, 3, generator=waves), dim=1)
    frequencies = TEXTURE_FREQUENCY[0] + (TEXTURE_FREQUENCY[1] - TEXTURE_FREQUENCY[0]) * torch.rand(
        TEXTURE_WAVES, generator=waves)
    phases = 2.0 * math.pi * torch.rand(TEXTURE_WAVES, generator=waves)
    wave_sum = torch.sin(2.0 * math.pi * frequencies[:, None] * (directions @ points) + phases[:, None]).sum(0)
    return 0.55 + 0.45 * torch.tanh(2.0 * wave_sum / math.sqrt(TEXTURE_WAVES))


def _intersect(origins, directions, obj: Sphere | Box) -> tuple[torch.Tensor, torch.Tensor]:
    return (_intersect_sphere if isinstance(obj, Sphere) else _intersect_box)(origins, directions, obj)


def _intersect_sphere(origins, directions, sphere: Sphere) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance [B], inf on a miss; outward normal [3, B]) of the first hit in front of the origin; rays [3, B]."""
    centre = torch.tensor(sphere.centre)[:, None]
    to_origin = origins - centre
    b = (to_origin * directions).sum(0)
    discriminant = b * b - ((to_origin * to_origin).sum(0) - sphere.radius**2)
    t = -b - discriminant.clamp_min(0.0).sqrt()
    t = torch.where((discriminant > 0) & (t > 0), t, math.inf)
    points = origins + directions * torch.nan_to_num(t, posinf=0.0)
    return t, (points - centre) / sphere.radius


def _intersect_floor(origins, directions) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance [B], inf on a miss; normal +Z [3, B]) of the floor disk, hit from above only; rays [3, B]."""
    height, radius = FLOOR
    going_down = directions[2] < -1e-9
    t = (height - origins[2]) / torch.where(going_down, directions[2], -1.0)
    points = origins + directions * t.clamp_min(0.0)
    inside = (points[0] ** 2 + points[1] ** 2 <= radius**2) & going_down & (t > 0)
    normal = torch.zeros_like(origins)
    normal[2] = 1.0
    return torch.where(inside, t, math.inf), normal


def _intersect_box(origins, directions, box: Box) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test in the box's own frame; the normal is the face through which the ray enters. Rays [3, B]."""
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    rotation = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # box frame -> world
    local_origins = rotation.T @ (origins - torch.tensor(box.centre)[:, None])
    local_dirs = rotation.T @ directions
    local_dirs = torch.where(local_dirs.abs() < 1e-12, 1e-12, local_dirs)
    half = torch.tensor(box.half_extent)[:, None]
    t_low, t_high = (-half - local_origins) / local_dirs, (half - local_origins) / local_dirs
    t_near, axis = torch.minimum(t_low, t_high).max(dim=0)
    t_far = torch.maximum(t_low, t_high).min(dim=0).values
    t = torch.where((t_near <= t_far) & (t_near > 0), t_near, math.inf)
    local_normal = torch.zeros_like(local_dirs)
    local_normal.scatter_(0, axis[None], -torch.sign(local_dirs.gather(0, axis[None])))
    return t, rotation @ local_normal


def look_at(position: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world [4, 4] (OpenGL axes: looks down -Z, +Y up in the image) at ``position`` facing ``target``."""
    forward = np.asarray(target, dtype=np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(right, forward), -forward, position
    return pose


def _hemisphere_cameras(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` cameras spread evenly (Fibonacci spiral) over elevations 8°..75°, random overall azimuth."""
    golden_angle = math.pi * (3.0 - math.sqrt(5.0))
    start = rng.uniform(0.0, 2.0 * math.pi)
    z_low, z_high = math.sin(math.radians(8.0)), math.sin(math.radians(75.0))
    poses = []
    for i in range(count):
        z = z_low + (z_high - z_low) * (i + 0.5) / count
        azimuth = start + golden_angle * i
        poses.append(look_at(CAMERA_RADIUS * _unit(azimuth, z)))
    return np.array(poses).reshape(count, 4, 4)


def _random_cameras(count: int, rng: np.random.Generator) -> np.ndarray:
    poses = [look_at(CAMERA_RADIUS * _unit(rng.uniform(0.0, 2.0 * math.pi), rng.uniform(0.15, 0.9)))
             for _ in range(count)]
    return np.array(poses).reshape(count, 4, 4)


def _unit(azimuth: float, z: float) -> np.ndarray:
    ring = math.sqrt(1.0 - z * z)
    return np.array([ring * math.cos(azimuth), ring * math.sin(azimuth), z])


def backdrop_colour(origins: torch.Tensor, directions: torch.Tensor, radius: float) -> torch.Tensor:
    """Colour [B, 3] where rays [B, 3] from inside leave the backdrop: a sphere of ``radius`` about the origin with
    an unlit checkerboard of 12 x 6 tiles in azimuth and elevation over a vertical gradient (texture, so that a
    field cannot fake it with one colour per direction at any depth)."""
    b = (origins * directions).sum(-1)
    t = -b + (b * b - ((origins * origins).sum(-1) - radius**2)).clamp_min(0.0).sqrt()
    point = origins + directions * t[:, None]
    azimuth = torch.atan2(point[:, 1], point[:, 0])
    elevation = torch.asin((point[:, 2] / radius).clamp(-1.0, 1.0))
    tile = (torch.floor(azimuth * 6 / math.pi) + torch.floor(elevation * 6 / math.pi)).remainder(2)
    height = 0.5 + 0.5 * point[:, 2:3] / radius
    sky, ground = torch.tensor([0.45, 0.6, 0.9]), torch.tensor([0.55, 0.45, 0.3])
    return (ground + (sky - ground) * height) * (0.7 + 0.3 * tile[:, None])


def make_unbounded_capture(out_dir: str | Path, n_frames: int = 24, size: int = 64, aabb_scale: int = 16,
                           backdrop_radius: float = 15.0, seed: int = 0, supersample: int = 2,
                           sfm_points: int = 2000, exposures: bool = False) -> Path:
    """The scene in front of a distant textured backdrop, written as an instant-ngp capture: one transforms.json
    (``fl_x``, ``aabb_scale``, ``scale`` 0.4 so that the objects fit the unit cube, every 8th frame held out by the
    loader), opaque RGB PNGs from cameras on the upper hemisphere at radius 4 looking inwards, and ``sparse_pc.ply``:
    ``sfm_points`` points on the visible surfaces, objects and backdrop alike, as structure-from-motion would give.
    Poses and points are in the scene's own frame; the loader maps them into instant-ngp's. With ``exposures`` each
    frame's brightness is scaled by its own factor in [0.6, 1.4] (what per-image appearance codes absorb).
    Deterministic for a given ``seed``. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    poses = _hemisphere_cameras(n_frames, rng)
    focal = 0.5 * size / math.tan(0.5 * CAMERA_ANGLE_X)
    intrinsics = torch.tensor([focal, focal, 0.5 * size, 0.5 * size], dtype=torch.float32)
    frames, points, colours = [], [], []
    for index, pose in enumerate(poses):
        rgba = render_view(torch.from_numpy(pose).float(), intrinsics, size, size, supersample, backdrop_radius)
        gain = rng.uniform(0.6, 1.4) if exposures else 1.0
        pixels = np.clip(np.rint(rgba[..., :3].numpy() * gain * 255.0), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(out_dir / "images" / f"frame_{index:03d}.png")
        frames.append({"file_path": f"images/frame_{index:03d}.png", "transform_matrix": pose.tolist()})
        picked = rng.choice(size * size, max(1, sfm_points // n_frames), replace=False)
        origins, directions = generate_rays(torch.from_numpy(pose).float()[None], intrinsics[None],
                                            pixel_grid(size, size)[picked])
        points.append(_first_hit(origins, directions, backdrop_radius))
        colours.append(pixels.reshape(-1, 3)[picked])
    transforms = {"fl_x": focal, "fl_y": focal, "cx": 0.5 * size, "cy": 0.5 * size, "w": size, "h": size,
                  "aabb_scale": aabb_scale, "scale": 0.4, "offset": [0.5, 0.5, 0.5], "frames": frames}
    (out_dir / "transforms.json").write_text(json.dumps(transforms, indent=2))
    _write_point_ply(out_dir / "sparse_pc.ply", torch.cat(points).numpy(), np.concatenate(colours))
    return out_dir


def _first_hit(origins: torch.Tensor, directions: torch.Tensor, backdrop_radius: float) -> torch.Tensor:
    """Points [B, 3] where rays first meet an object, else the backdrop."""
    distance = torch.full(origins.shape[:1], math.inf)
    for obj in OBJECTS:
        distance = torch.minimum(distance, _intersect(origins.T.contiguous(), directions.T.contiguous(), obj)[0])
    b = (origins * directions).sum(-1)
    far = -b + (b * b - ((origins * origins).sum(-1) - backdrop_radius**2)).clamp_min(0.0).sqrt()
    return origins + directions * torch.where(torch.isfinite(distance), distance, far)[:, None]


def _write_point_ply(path: Path, points: np.ndarray, colours: np.ndarray) -> None:
    """ASCII PLY of x y z (float) r g b (uchar), the layout of nerfstudio's sparse_pc.ply."""
    header = ["ply", "format ascii 1.0", f"element vertex {len(points)}", "property float x", "property float y",
              "property float z", "property uchar red", "property uchar green", "property uchar blue", "end_header"]
    rows = [f"{x:.6f} {y:.6f} {z:.6f} {r} {g} {b}" for (x, y, z), (r, g, b) in zip(points.tolist(), colours.tolist())]
    path.write_text("\n".join(header + rows) + "\n")
