"""The cameras exporters render from: the training views of the scene a checkpoint was trained on, or, when that
scene cannot be found, cameras spread over a sphere around the field's box."""
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from fields.datasets import SceneFormatError, SceneNotFoundError, load_scene
from fields.export.camera_path import framing_radius, look_at
from fields.render.camera import PinholeCamera
from fields.run.scene import trained_scene


@dataclass(kw_only=True)
class RenderedViewsOptions:
    """Options of the exports that render the training views (apps/export_pointcloud.py; apps/export_mesh.py with
    --method tsdf or poisson)."""

    views: int = 100
    """At most this many training views are rendered (evenly picked; by the mesh export only for tsdf and poisson)."""
    downscale: int = 2
    """Render the views this many times smaller than the training images."""
    data_root: Optional[Path] = None
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def cameras(self, meta: dict, aabb: torch.Tensor) -> list[PinholeCamera]:
        return training_cameras(meta, aabb, self.data_root, self.downscale, self.views)


def training_cameras(meta: dict, aabb: torch.Tensor, data_root: Optional[Path] = None, downscale: int = 4,
                     max_views: int = 0) -> list[PinholeCamera]:
    """The train-split cameras (every k-th so that at most ``max_views`` remain; 0 = all), ``downscale`` times
    smaller than the images; else :func:`sphere_cameras` (with a note on stderr): at most 64 (or ``max_views``),
    of 512 / ``downscale`` pixels."""
    try:
        scene = load_scene(trained_scene(meta, None, data_root), "train", downscale=None)  # only poses are used
    except (SceneNotFoundError, SceneFormatError, FileNotFoundError, KeyError) as error:
        count, size = min(64, max_views or 64), max(16, 512 // downscale)
        print(f"note: the training scene was not found ({error}); rendering {count} views of {size}x{size} around "
              f"the box instead", file=sys.stderr)
        return sphere_cameras(aabb, count, size)
    every = max(1, math.ceil(scene.num_images / max_views)) if max_views else 1
    cameras = []
    for index in range(0, scene.num_images, every):
        fx, fy, cx, cy = scene.intrinsics[index].tolist()
        full = PinholeCamera(scene.c2w[index], scene.width, scene.height, fx, fy, cx, cy)
        width, height = scene.width * scene.downscale, scene.height * scene.downscale  # the images' own size
        cameras.append(full.resized(max(1, width // downscale), max(1, height // downscale)))
    return cameras


def sphere_cameras(aabb: torch.Tensor, count: int, size: int, fov_y_degrees: float = 40.0) -> list[PinholeCamera]:
    """``count`` square cameras evenly spread (Fibonacci sphere) around the box, each framing all of it."""
    bounds = aabb.detach().cpu().double().numpy()
    center = 0.5 * (bounds[:3] + bounds[3:])
    radius = framing_radius(bounds, fov_y_degrees)
    golden_angle = math.pi * (3.0 - math.sqrt(5.0))
    cameras = []
    for i in range(count):
        z = 1.0 - 2.0 * (i + 0.5) / count
        ring = math.sqrt(1.0 - z * z)
        direction = np.array([ring * math.cos(golden_angle * i), ring * math.sin(golden_angle * i), z])
        up = np.array([0.0, 0.0, 1.0]) if abs(z) < 0.99 else np.array([0.0, 1.0, 0.0])
        c2w = look_at(center + radius * direction, center, up)
        cameras.append(PinholeCamera.from_fov(torch.from_numpy(c2w).float(), size, size, fov_y_degrees))
    return cameras
