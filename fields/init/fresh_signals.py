"""FreSh for each signal: the target spectra and the untrained field's output on the same grid.

* images: the image resized to a square of side ``min(H, W, max_side)`` (antialiased), against the field evaluated
  at the pixel centres of that square;
* volumes (SDFs): the signed distance on an n^3 vertex grid of [-1, 1]^3, against the field on the same points;
* radiance fields: training views (composited on white, resized to ``side``) against the untrained field rendered
  from the same cameras at that size; seed s is paired with view s mod n_views, and the crop is halved.
"""
from typing import Optional, Sequence

import numpy as np
import torch

from fields.datasets import composite_background
from fields.datasets.mesh_sdf import Mesh, signed_distance
from fields.geometry_metrics import grid_points
from fields.init.fresh import FreshResult, family_of, select
from fields.init.spectrum import resize_to_square, spectrum
from fields.models import make_field
from fields.render import OccupancyGrid
from fields.render.camera import PinholeCamera, render_camera

CHUNK = 1 << 16


def _evaluate(fn, points: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(points[i:i + CHUNK]) for i in range(0, len(points), CHUNK)])


def select_for_image(field_type: str, image: torch.Tensor, options: Optional[dict] = None,
                     candidates: Optional[Sequence[float]] = None, seeds: int = 5, max_side: int = 512,
                     crop: Optional[int] = None, device="cpu") -> FreshResult:
    """``image`` [H, W, C] (any value range: spectra are compared after normalisation, and the DC bin is
    dropped)."""
    height, width, channels = image.shape
    side = min(height, width, max_side)
    target = spectrum(resize_to_square(image.permute(2, 0, 1).float().cpu(), side))

    def output(trial: dict, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        field = make_field("image", field_type, height=side, width=side, channels=channels, **trial).to(device)
        return _evaluate(field.rgb, field.pixel_coordinates()).T.reshape(channels, side, side).cpu()

    return select(field_type, output, [target], candidates, crop, seeds, options)


def sdf_grid_target(mesh: Mesh, resolution: int) -> torch.Tensor:
    """[1, R, R, R] exact signed distances of a normalised mesh on the vertex grid of [-1, 1]^3."""
    values = signed_distance(mesh, grid_points(resolution))
    return torch.from_numpy(np.asarray(values, dtype=np.float32).reshape(1, resolution, resolution, resolution))


def select_for_volume(field_type: str, volume: torch.Tensor, options: Optional[dict] = None,
                      candidates: Optional[Sequence[float]] = None, seeds: int = 5, crop: Optional[int] = None,
                      device="cpu") -> FreshResult:
    """``volume`` [1, R, R, R]: the target SDF sampled at :func:`fields.geometry_metrics.grid_points`."""
    resolution = volume.shape[-1]
    target = spectrum(volume.float())
    points = torch.from_numpy(grid_points(resolution).astype(np.float32)).to(device)

    def output(trial: dict, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        field = make_field("sdf", field_type, **trial).to(device)
        return _evaluate(field.sdf, points).reshape(1, resolution, resolution, resolution).cpu()

    return select(field_type, output, [target], candidates, crop, seeds, options)


def select_for_views(field_type: str, cameras: Sequence, images: Sequence[torch.Tensor], aabb: Sequence[float],
                     options: Optional[dict] = None, candidates: Optional[Sequence[float]] = None, seeds: int = 4,
                     crop: Optional[int] = None, render_step_size: float = 2e-2, device="cpu") -> FreshResult:
    """``cameras`` (:class:`fields.render.camera.PinholeCamera`, already resized to a square side) and the matching
    ``images`` [side, side, 3] on a white background. The untrained field is rendered with every occupancy cell
    open and a coarse step (a spectrum needs no converged transmittance, only the same cameras)."""
    targets = [spectrum(image.permute(2, 0, 1).float().cpu()) for image in images]
    grid = OccupancyGrid(list(aabb), resolution=32).to(device)
    grid.mark_all_occupied()

    def output(trial: dict, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        field = make_field("radiance", field_type, aabb=list(aabb), **trial).to(device).eval()
        rgb = render_camera(field, grid, cameras[seed % len(cameras)], background=1.0,
                            render_step_size=render_step_size)["rgb"]
        return rgb.permute(2, 0, 1).cpu()

    return select(field_type, output, targets, candidates, crop or family_of(field_type).crop // 2, seeds, options)


def training_views(scene, count: int, side: int) -> tuple[list, list[torch.Tensor]]:
    """``count`` evenly spaced training views of a scene (:class:`fields.datasets.SceneData`) as cameras resized to
    side x side and images composited on white and resized to match."""
    indices = np.linspace(0, scene.num_images - 1, count).round().astype(int)
    cameras, images = [], []
    for i in indices:
        fx, fy, cx, cy = scene.intrinsics[i].tolist()
        camera = PinholeCamera(scene.c2w[i], scene.width, scene.height, fx, fy, cx, cy)
        cameras.append(camera.resized(side, side))
        rgb = composite_background(scene.rgba(i), 1.0)
        images.append(resize_to_square(rgb.permute(2, 0, 1), side).permute(1, 2, 0))
    return cameras, images
