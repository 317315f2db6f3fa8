"""Camera rays: pixels to world-space rays, lens undistortion, and random training batches.

Convention (docs/design.md): ``c2w`` is camera-to-world with OpenGL camera axes (looks down -Z, +Y up); pixel
``(u, v)`` has ``u`` to the right and ``v`` down from the top-left image corner, so the pixel in row ``r``,
column ``c`` has its centre at ``(c + 0.5, r + 0.5)``. The camera-space direction of a pixel is
``((u - cx) / fx, -(v - cy) / fy, -1)`` once the normalised coordinates are undistorted.

Two lens models, both OpenCV's (and COLMAP's), with four coefficients each: the pinhole camera with Brown-Conrady
distortion (``k1 k2 p1 p2``), and the fisheye camera (``k1 k2 k3 k4``, OPENCV_FISHEYE), where a ray at angle
``theta`` from the optical axis lands at distance ``theta * (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``
from the principal point in normalised coordinates, so that it sees up to and beyond 90 degrees off axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from fields.datasets.scene import SceneData

UNDISTORT_ITERATIONS = 10


def distort(x: torch.Tensor, y: torch.Tensor, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV / Brown-Conrady distortion of normalised image coordinates (y down); ``coeffs`` [..., 4] = k1 k2 p1 p2."""
    k1, k2, p1, p2 = coeffs.unbind(-1)
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + k2 * r2)
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return xd, yd


def undistort(
    xd: torch.Tensor, yd: torch.Tensor, coeffs: torch.Tensor, iterations: int = UNDISTORT_ITERATIONS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert :func:`distort` by Newton's method (no closed form exists), starting from the distorted point.

    Converges in a few steps wherever the lens model is monotonic (the usable part of any real lens).
    """
    k1, k2, p1, p2 = coeffs.unbind(-1)
    x, y = xd.clone(), yd.clone()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + k2 * r2)
        dradial = 2.0 * (k1 + 2.0 * k2 * r2)  # d radial / d(x or y), divided by x or y
        fx = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - xd
        fy = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - yd
        dfx_dx = radial + dradial * x * x + 2.0 * p1 * y + 6.0 * p2 * x
        dfx_dy = dradial * x * y + 2.0 * p1 * x + 2.0 * p2 * y
        dfy_dx = dfx_dy  # the Jacobian of this model is symmetric
        dfy_dy = radial + dradial * y * y + 6.0 * p1 * y + 2.0 * p2 * x
        det = dfx_dx * dfy_dy - dfx_dy * dfy_dx
        safe_det = torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
        step_ok = det.abs() > 1e-12  # leave a point alone where the model folds over
        x = x - torch.where(step_ok, (fx * dfy_dy - fy * dfx_dy) / safe_det, torch.zeros_like(x))
        y = y - torch.where(step_ok, (fy * dfx_dx - fx * dfy_dx) / safe_det, torch.zeros_like(y))
    return x, y


def fisheye_angle(theta_d: torch.Tensor, coeffs: torch.Tensor, iterations: int = UNDISTORT_ITERATIONS
                  ) -> torch.Tensor:
    """The angle ``theta`` off the optical axis of a fisheye ray that lands at normalised distance ``theta_d``:
    inverts ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`` by Newton's method;
    ``coeffs`` [..., 4] = k1 k2 k3 k4."""
    k1, k2, k3, k4 = coeffs.unbind(-1)
    theta = theta_d.clone()
    for _ in range(iterations):
        t2 = theta * theta
        residual = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        slope = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
        theta = theta - torch.where(slope.abs() > 1e-12, residual / slope, torch.zeros_like(theta))
    return theta


def generate_rays(
    c2w: torch.Tensor,
    intrinsics: torch.Tensor,
    pixels: torch.Tensor,
    distortion: torch.Tensor | None = None,
    fisheye: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space rays through ``pixels``.

    ``c2w`` [B, 4, 4] (or [B, 3, 4]), ``intrinsics`` [B, 4] (fx, fy, cx, cy), ``pixels`` [B, 2] float (u, v) pixel
    coordinates, including the +0.5 centre offset the caller chooses, ``distortion`` [B, 4] (k1, k2, p1, p2; with
    ``fisheye``, the fisheye model's k1, k2, k3, k4) or None. A leading dimension of 1 broadcasts. Returns (origins
    [B, 3], unit directions [B, 3]).
    """
    _check_ray_inputs(c2w, intrinsics, pixels, distortion)
    return camera_to_world(c2w, camera_directions(intrinsics, pixels, distortion, fisheye))


def camera_directions(
    intrinsics: torch.Tensor, pixels: torch.Tensor, distortion: torch.Tensor | None = None, fisheye: bool = False
) -> torch.Tensor:
    """Camera-space directions [B, 3] through ``pixels`` (not unit: z = -1 for a pinhole camera; unit for a fisheye
    one, which also sees sideways and behind); arguments as in :func:`generate_rays`."""
    fx, fy, cx, cy = intrinsics.unbind(-1)
    x = (pixels[:, 0] - cx) / fx
    y = (pixels[:, 1] - cy) / fy  # normalised coordinates with y down, as the lens models expect
    if fisheye:
        theta_d = torch.sqrt(x * x + y * y)
        coeffs = torch.zeros(4, dtype=x.dtype, device=x.device) if distortion is None else distortion
        theta = fisheye_angle(theta_d, coeffs)
        # sin(theta) / theta_d, which tends to 1 on the optical axis
        scale = torch.where(theta_d > 1e-12, torch.sin(theta) / theta_d.clamp_min(1e-12), torch.ones_like(x))
        return torch.stack([x * scale, -y * scale, -torch.cos(theta)], dim=-1)
    if distortion is not None:
        x, y = undistort(x, y, distortion)
    return torch.stack([x, -y, -torch.ones_like(x)], dim=-1)


def camera_to_world(c2w: torch.Tensor, camera_dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (origins [B, 3], unit directions [B, 3]) from camera-space directions [B, 3] and ``c2w`` [B or 1, 4, 4]."""
    directions = (c2w[:, :3, :3] @ camera_dirs[:, :, None]).squeeze(-1)  # batched 3x3 products broadcast B=1
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = c2w[:, :3, 3].expand(directions.shape[0], 3).contiguous()
    return origins, directions


def _check_ray_inputs(c2w, intrinsics, pixels, distortion) -> None:
    shapes = {"c2w": (c2w, None), "intrinsics": (intrinsics, 4), "pixels": (pixels, 2)}
    if distortion is not None:
        shapes["distortion"] = (distortion, 4)
    for name, (tensor, width) in shapes.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise TypeError(f"generate_rays: {name} must be a floating-point tensor")
        if width is not None and (tensor.dim() != 2 or tensor.shape[1] != width):
            raise ValueError(f"generate_rays: {name} must have shape [B, {width}], got {list(tensor.shape)}")
    if c2w.dim() != 3 or tuple(c2w.shape[1:]) not in ((4, 4), (3, 4)):
        raise ValueError(f"generate_rays: c2w must have shape [B, 4, 4] or [B, 3, 4], got {list(c2w.shape)}")
    batch = {t.shape[0] for t, _ in shapes.values()} - {1}
    if len(batch) > 1:
        raise ValueError(
            "generate_rays: batch sizes differ: "
            + ", ".join(f"{name} {t.shape[0]}" for name, (t, _) in shapes.items())
            + " (each must be B or 1)"
        )


def pixel_grid(width: int, height: int, device=None) -> torch.Tensor:
    """Centres (u, v) of every pixel, row-major from the top-left: float32 [H * W, 2]."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device) + 0.5,
        torch.arange(width, dtype=torch.float32, device=device) + 0.5,
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def image_rays(scene: SceneData, index: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through the centres of every pixel of image ``index``: (origins, directions), each [H, W, 3]."""
    pixels = pixel_grid(scene.width, scene.height, device)
    distortion = None if scene.distortion is None else scene.distortion[index : index + 1].to(device)
    origins, directions = generate_rays(scene.c2w[index : index + 1].to(device),
                                        scene.intrinsics[index : index + 1].to(device), pixels, distortion,
                                        scene.fisheye)
    return origins.reshape(scene.height, scene.width, 3), directions.reshape(scene.height, scene.width, 3)


@dataclass
class RayBatch:
    origins: torch.Tensor  # [B, 3]
    directions: torch.Tensor  # [B, 3], unit
    rgba: torch.Tensor  # [B, 4] float32 in [0, 1], straight alpha
    image_indices: torch.Tensor  # [B] int64
    pixels: torch.Tensor  # [B, 2] float32 (u, v)


# The largest table of per-pixel camera directions a RaySampler keeps (one image's worth per distinct camera model);
# beyond it (per-frame intrinsics of many large images) the rays are generated at every step instead.
MAX_DIRECTION_TABLE_BYTES = 1 << 30


class RaySampler:
    """Draws random training rays uniformly over all pixels of all images of a scene.

    The images are flattened once into a uint8 [N * H * W, 4] tensor on ``device``; a batch is one randint and a
    few gathers, with no host round trip. The camera-space direction of every pixel centre is computed once per
    distinct camera model (intrinsics and lens), so a batch only rotates gathered directions: on a GPU each tensor
    operation is a kernel launch, and undistortion alone would cost hundreds per step. ``jitter`` draws a random
    point inside each pixel instead of its centre (rays generated at every step).
    """

    def __init__(self, scene: SceneData, device="cpu", seed: int = 0, jitter: bool = False) -> None:
        self.device = torch.device(device)
        self.width, self.height, self.num_images = scene.width, scene.height, scene.num_images
        self.pixels_rgba = scene.images.reshape(-1, 4).to(self.device)
        self.c2w = scene.c2w.to(self.device)
        self.intrinsics = scene.intrinsics.to(self.device)
        self.distortion = None if scene.distortion is None else scene.distortion.to(self.device)
        self.fisheye = scene.fisheye
        self.jitter = jitter
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.direction_table, self.model_of_image = (None, None) if jitter else self._direction_table()

    def _direction_table(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Camera-space directions of every pixel centre for each distinct camera model, [M * H * W, 3], and each
        image's model [N]; (None, None) when the table would exceed MAX_DIRECTION_TABLE_BYTES."""
        lens = self.intrinsics if self.distortion is None else torch.cat([self.intrinsics, self.distortion], dim=1)
        models, model_of_image = torch.unique(lens, dim=0, return_inverse=True)
        pixels = pixel_grid(self.width, self.height, self.device)
        if models.shape[0] * pixels.shape[0] * 3 * 4 > MAX_DIRECTION_TABLE_BYTES:
            return None, None
        tables = [camera_directions(model[None, :4], pixels, None if self.distortion is None else model[None, 4:],
                                    self.fisheye) for model in models]
        return torch.cat(tables), model_of_image

    def sample(self, batch_size: int) -> RayBatch:
        flat = torch.randint(
            self.pixels_rgba.shape[0], (batch_size,), device=self.device, generator=self.generator
        )
        pixels_per_image = self.width * self.height
        image = flat // pixels_per_image
        within = flat % pixels_per_image
        pixel = torch.stack([within % self.width, within // self.width], dim=-1).float()
        if self.jitter:
            pixel = pixel + torch.rand(pixel.shape, device=self.device, generator=self.generator)
        else:
            pixel = pixel + 0.5
        if self.direction_table is not None:
            one_model = self.direction_table.shape[0] == pixels_per_image
            row = within if one_model else self.model_of_image[image] * pixels_per_image + within
            origins, directions = camera_to_world(self.c2w[image], self.direction_table[row])
        else:
            distortion = None if self.distortion is None else self.distortion[image]
            origins, directions = generate_rays(self.c2w[image], self.intrinsics[image], pixel, distortion,
                                                self.fisheye)
        rgba = self.pixels_rgba[flat].float() / 255.0
        return RayBatch(origins, directions, rgba, image, pixel)
