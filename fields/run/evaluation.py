"""Rendering the views of a split and measuring them against the ground truth on a white background: whole views
for the final evaluation and apps/eval.py, a fixed random subset of pixels for the periodic validation of a run."""
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from fields.datasets import composite_background, generate_rays, image_rays
from fields.lpips import lpips_distance
from fields.metrics import psnr, ssim
from fields.render.volume import render_rays_chunked
from fields.run.host_memory import usual_host_memory

WHITE = 1.0
CPU_EVALUATION_PIXELS = 500_000  # a whole view rendered on 2 CPU cores takes about a minute at this size


def evaluation_downscale(width: int, height: int, device: torch.device) -> int:
    """The default extra downscale of a final evaluation: on the CPU the smallest integer factor that brings a view
    to at most CPU_EVALUATION_PIXELS, so that evaluating stays a small part of a run; on a GPU 1."""
    factor = 1
    while device.type == "cpu" and (width // factor) * (height // factor) > CPU_EVALUATION_PIXELS:
        factor += 1
    return factor


@torch.no_grad()
def render_field_view(field, grid, scene, index: int, render_step_size: float, cone_angle: float, device) -> dict:
    """Renders view ``index`` of ``scene`` on white. Returns rgb [H, W, 3], opacity and depth [H, W] (CPU)."""
    origins, directions = image_rays(scene, index, device)
    h, w = scene.height, scene.width
    rgb, opacity, depth = render_rays_chunked(
        field, grid, origins.reshape(-1, 3), directions.reshape(-1, 3),
        torch.full((3,), WHITE, device=device), render_step_size=render_step_size, cone_angle=cone_angle,
    )
    return {"rgb": rgb.reshape(h, w, 3).cpu(), "opacity": opacity.reshape(h, w).cpu(), "depth": depth.reshape(h, w).cpu()}


def save_png(image: torch.Tensor, path: Path) -> None:
    array = (image.clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path)


def evaluate_views(field, grid, scene, indices, render_step_size: float, cone_angle: float, device,
                   image_dir: Optional[Path] = None, progress: bool = False, lpips_model=None) -> dict:
    """PSNR and SSIM (and LPIPS with ``lpips_model``, see fields.lpips) of the rendered views ``indices`` against
    ground truth composited on white.

    Returns {"mean": {"psnr", "ssim", ["lpips",] "views"}, "views": [{"index", "psnr", "ssim"[, "lpips"]}, ...]};
    writes renders to image_dir; ``progress`` shows a bar over the views."""
    views = []
    with usual_host_memory():  # during training, the evaluation's buffers must not pile up on the steps' memory
        for index in tqdm(indices, disable=not progress, unit="view", desc=f"rendering {scene.split} views"):
            rendered = render_field_view(field, grid, scene, index, render_step_size, cone_angle, device)["rgb"]
            target = composite_background(scene.rgba(index), WHITE)
            views.append({"index": index, "psnr": float(psnr(rendered, target)),
                          "ssim": float(ssim(rendered, target))})
            if lpips_model is not None:
                views[-1]["lpips"] = lpips_distance(lpips_model, rendered, target)
            if image_dir is not None:
                image_dir.mkdir(parents=True, exist_ok=True)
                save_png(rendered, image_dir / f"{scene.split}_{index:03d}.png")
    keys = ("psnr", "ssim") + (("lpips",) if lpips_model is not None else ())
    mean = {key: float(np.mean([v[key] for v in views])) for key in keys} if views else {}
    return {"mean": mean | {"views": len(views)}, "views": views}


class PixelSubset:
    """A fixed random subset of ``pixels_per_view`` pixels of each of the first ``count`` views of ``scene``: the
    periodic validation renders only these, so its cost does not grow with the image size (PSNR only; SSIM needs
    whole images and is measured by the final evaluation)."""

    def __init__(self, scene, count: int, pixels_per_view: int, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.views = list(range(min(count, scene.num_images)))
        n_pixels = scene.width * scene.height
        take = min(pixels_per_view, n_pixels)
        self.pixel_index = [torch.randperm(n_pixels, generator=generator)[:take] for _ in self.views]
        self.scene = scene

    @torch.no_grad()
    def psnr(self, field, grid, render_step_size: float, cone_angle: float, device) -> float:
        """Mean over the views of the PSNR of the subset's pixels (white background)."""
        scene, values = self.scene, []
        with usual_host_memory():
            for view, index in zip(self.views, self.pixel_index):
                rows, cols = index // scene.width, index % scene.width
                pixels = torch.stack([cols, rows], dim=-1).float() + 0.5
                distortion = None if scene.distortion is None else scene.distortion[view : view + 1].to(device)
                origins, directions = generate_rays(scene.c2w[view : view + 1].to(device),
                                                    scene.intrinsics[view : view + 1].to(device),
                                                    pixels.to(device), distortion, scene.fisheye)
                rgb, _, _ = render_rays_chunked(field, grid, origins, directions,
                                                torch.full((3,), WHITE, device=device),
                                                render_step_size=render_step_size, cone_angle=cone_angle)
                target = composite_background(scene.images[view][rows, cols].float() / 255.0, WHITE)
                values.append(float(psnr(rgb.cpu(), target)))
        return float(np.mean(values))
