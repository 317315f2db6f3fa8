"""Render every K-th view of a split from a checkpoint on a white background and measure PSNR/SSIM (and LPIPS where
its weights are on this machine: see fields/lpips.py).

    python apps/eval.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --split val
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import tyro
from PIL import Image

from fields.datasets import SceneFormatError, SceneNotFoundError, composite_background, find_scene, load_scene
from fields.io import run_checkpoint
from fields.lpips import MIN_SIDE, LpipsWeightsMissing, load_lpips, lpips_distance
from fields.train.checkpointing import load_field
from fields.train.evaluation import evaluate_views
from fields.train.nerf_trainer import resolve_device
from fields.train.run_checks import check_output_folder, check_positive


@dataclass
class EvalConfig:
    checkpoint: Path
    """A checkpoint written by train_nerf.py (the .safetensors file; its .json sits beside it), or its run folder."""
    split: Literal["val", "test", "train"] = "val"
    data_root: Optional[Path] = None
    scene: Optional[str] = None
    """Scene name or path (default: the scene the checkpoint was trained on)."""
    every: int = 1
    """Render every K-th view of the split (1 or more)."""
    output: Optional[Path] = None
    """Folder for metrics.json and the renders (default: <run>/eval_<split>)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    downscale: int = 1
    lpips_weights: Optional[Path] = None
    """One file with the AlexNet and LPIPS linear-layer weights (default: torch hub's cache; see fields/lpips.py)."""


def locate_scene(config: EvalConfig, meta: dict) -> Path:
    """The scene asked for; else the one the checkpoint was trained on, where it was, or found by its name."""
    if config.scene is not None:
        return find_scene(config.scene, config.data_root)
    trained_on = Path(meta.get("scene_path", ""))
    if config.data_root is None and meta.get("scene_path") and trained_on.is_dir():
        return trained_on
    return find_scene(meta["scene"], config.data_root)


def lpips_of_renders(model, scene, indices: list[int], image_dir: Path) -> float:
    """Mean LPIPS of the renders evaluate_views saved (8-bit PNGs) against the ground truth on white."""
    values = []
    for index in indices:
        render = np.asarray(Image.open(image_dir / f"{scene.split}_{index:03d}.png").convert("RGB"))
        target = composite_background(scene.rgba(index), 1.0)
        values.append(lpips_distance(model, torch.from_numpy(render).float() / 255.0, target))
    return float(np.mean(values))


def main(config: EvalConfig) -> int:
    device = resolve_device(config.device)
    try:
        check_positive(config, ["every", "downscale"])
        checkpoint = run_checkpoint(config.checkpoint)
        output = config.output or checkpoint.resolve().parent.parent / f"eval_{config.split}"
        check_output_folder(output)
        field, grid, meta = load_field(checkpoint, device)
        if field.signal != "radiance":
            raise ValueError(f"{config.checkpoint} holds a {field.signal} field; eval.py evaluates radiance fields "
                             "(image and SDF metrics are in the metrics.json of their training run)")
        scene = load_scene(locate_scene(config, meta), config.split, downscale=config.downscale)
        lpips_model, lpips_missing = None, None
        try:
            lpips_model = load_lpips(config.lpips_weights, device)
        except (LpipsWeightsMissing, ValueError) as error:
            if config.lpips_weights is not None:  # a file asked for must work
                raise
            lpips_missing = str(error)
        if lpips_model is not None and min(scene.height, scene.width) < MIN_SIDE:
            lpips_model, lpips_missing = None, f"the images are smaller than {MIN_SIDE}x{MIN_SIDE}"
    except (SceneNotFoundError, SceneFormatError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    indices = list(range(0, scene.num_images, config.every))
    render = meta["render"]
    result = evaluate_views(field, grid, scene, indices, render["render_step_size"], render["cone_angle"], device,
                            image_dir=output)
    lpips = lpips_of_renders(lpips_model, scene, indices, output) if lpips_model is not None else None
    metrics = result["mean"] | {"split": config.split, "every": config.every, "background": "white",
                                "checkpoint": str(checkpoint), "step": meta.get("step"), "lpips": lpips,
                                "per_view": result["views"]} | ({"lpips_missing": lpips_missing} if lpips_missing
                                                                else {})
    (output / "metrics.json").write_text(json.dumps(metrics, indent=1))
    lpips_text = f", LPIPS {lpips:.4f}" if lpips is not None else ""
    print(f"{config.split}: {len(indices)} views, PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}"
          f"{lpips_text} (white background); images and metrics.json in {output}")
    if lpips_missing:
        print(f"LPIPS not measured: {lpips_missing}")
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main(tyro.cli(EvalConfig, description=__doc__)))
