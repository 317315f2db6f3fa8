"""A pinhole camera (OpenGL axes, camera-to-world, as in transforms.json) and rendering a radiance field from it.

The viewer, ``apps/render.py`` and the exporters render arbitrary cameras through :func:`render_camera`; camera
paths are lists of these cameras (see :mod:`fields.export.camera_path`)."""
import math
from dataclasses import dataclass

import torch

from fields.datasets.rays import generate_rays, pixel_grid
from fields.render.volume import render_rays_chunked


@dataclass
class PinholeCamera:
    c2w: torch.Tensor  # [4, 4] camera-to-world, OpenGL axes (looks down -Z, +Y up)
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, c2w, width: int, height: int, fov_y_degrees: float) -> "PinholeCamera":
        """A camera with square pixels and a centred principal point from its vertical field of view."""
        focal = 0.5 * height / math.tan(0.5 * math.radians(fov_y_degrees))
        return cls(torch.as_tensor(c2w, dtype=torch.float32), width, height, focal, focal, 0.5 * width, 0.5 * height)

    @property
    def fov_y_degrees(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.height / self.fy))

    def resized(self, width: int, height: int) -> "PinholeCamera":
        """The same view at another resolution (intrinsics scaled with it)."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(self.c2w, width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)

    def rays(self, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(origins, unit directions), each [H * W, 3], row-major from the top-left pixel."""
        intrinsics = torch.tensor([[self.fx, self.fy, self.cx, self.cy]], dtype=torch.float32, device=device)
        c2w = self.c2w.to(device=device, dtype=torch.float32)[None]
        return generate_rays(c2w, intrinsics, pixel_grid(self.width, self.height, device))


@torch.no_grad()
def render_camera(field, grid, camera: PinholeCamera, *, background: float = 1.0, render_step_size: float = 5e-3,
                  cone_angle: float = 0.0, chunk: int = 1 << 14) -> dict:
    """Renders a radiance field from ``camera`` (no gradients).

    Args:
        field: a radiance field; grid: its :class:`OccupancyGrid`; camera: the view.
        background: grey level behind the field.
        render_step_size, cone_angle: as :func:`fields.ops.ray_marching`; chunk: rays per pass.

    Returns:
        {"rgb": [H, W, 3], "opacity": [H, W], "depth": [H, W]} float32 on the field's device; depth is the expected
        distance along the ray, 0 where nothing was hit.
    """
    device = grid.aabb.device
    origins, directions = camera.rays(device)
    rgb, opacity, depth = render_rays_chunked(
        field, grid, origins, directions, torch.full((3,), float(background), device=device), chunk=chunk,
        render_step_size=render_step_size, cone_angle=cone_angle)
    h, w = camera.height, camera.width
    return {"rgb": rgb.reshape(h, w, 3), "opacity": opacity.reshape(h, w), "depth": depth.reshape(h, w)}
