"""Renders views of a split and measures them against the ground truth on a white background."""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fields.datasets import composite_background, image_rays
from fields.metrics import psnr, ssim
from fields.render.volume import render_rays_chunked
from fields.train.host_memory import usual_host_memory

WHITE = 1.0


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
                   image_dir: Path | None = None) -> dict:
    """PSNR and SSIM of the rendered views ``indices`` against ground truth composited on white.

    Returns {"mean": {"psnr", "ssim"}, "views": [{"index", "psnr", "ssim"}, ...]}; writes renders to image_dir."""
    views = []
    with usual_host_memory():  # during training, the evaluation's buffers must not pile up on the steps' memory
        for index in indices:
            rendered = render_field_view(field, grid, scene, index, render_step_size, cone_angle, device)["rgb"]
            target = composite_background(scene.rgba(index), WHITE)
            views.append({"index": index, "psnr": float(psnr(rendered, target)),
                          "ssim": float(ssim(rendered, target))})
            if image_dir is not None:
                image_dir.mkdir(parents=True, exist_ok=True)
                save_png(rendered, image_dir / f"{scene.split}_{index:03d}.png")
    mean = {key: float(np.mean([v[key] for v in views])) for key in ("psnr", "ssim")} if views else {}
    return {"mean": mean | {"views": len(views)}, "views": views}
