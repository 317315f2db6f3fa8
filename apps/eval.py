"""Render every K-th view of a split from a checkpoint on a white background and measure PSNR/SSIM (and LPIPS when
its network weights are already on disk: the torch hub cache, or --lpips-weights; nothing is downloaded).

    python apps/eval.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --split val
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from fields.datasets import load_scene
from fields.lpips import lpips_or_reason
from fields.run import (RunFolder, check_positive, checkpoint_path, evaluate_views, load_field, resolve_device,
                        run_app, trained_scene, user_errors, write_json)


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
    downscale: Optional[int] = None
    """Render the views this many times smaller than the images (default: the downscale the run trained at)."""
    lpips_weights: Optional[Path] = None
    """One file with the AlexNet and LPIPS linear-layer weights (default: torch hub's cache; see fields/lpips.py)."""


@torch.no_grad()  # rendering only
def main(config: EvalConfig) -> int:
    with user_errors():  # scene, checkpoint, weight-file and option errors
        check_positive(config, ["every", "downscale"])
        checkpoint = checkpoint_path(config.checkpoint)
        output = config.output or RunFolder.of(checkpoint).file(f"eval_{config.split}")
        RunFolder(output).check_writable()
        device = resolve_device(config.device)
        field, grid, meta = load_field(checkpoint, device)
        if field.signal != "radiance":
            raise ValueError(f"{config.checkpoint} holds a {field.signal} field; eval.py evaluates radiance fields "
                             "(image and SDF metrics are in the metrics.json of their training run)")
        scene_path = trained_scene(meta, config.scene, config.data_root)
        scene = load_scene(scene_path, config.split, downscale=config.downscale or meta.get("downscale", 1))
        lpips_model, lpips_missing = lpips_or_reason(config.lpips_weights, device, min(scene.height, scene.width))
    print(f"evaluating {checkpoint} (step {meta.get('step')}) on the {config.split} split of {scene_path}")
    indices = list(range(0, scene.num_images, config.every))
    render = meta["render"]
    result = evaluate_views(field, grid, scene, indices, render["render_step_size"], render["cone_angle"], device,
                            image_dir=output, progress=True, lpips_model=lpips_model)
    metrics = result["mean"] | {"split": config.split, "every": config.every, "background": "white",
                                "scene": str(scene_path), "downscale": scene.downscale, "checkpoint": str(checkpoint),
                                "step": meta.get("step"),
                                "lpips": result["mean"].get("lpips"), "per_view": result["views"]}
    if lpips_missing:
        metrics["lpips_missing"] = lpips_missing
    write_json(output / "metrics.json", metrics)
    lpips_text = f", LPIPS {metrics['lpips']:.4f}" if metrics["lpips"] is not None else ""
    print(f"{config.split} of {scene_path.name}: {len(indices)} views, PSNR {metrics['psnr']:.2f} dB, SSIM "
          f"{metrics['ssim']:.4f}{lpips_text} (white background); images and metrics.json in {output}")
    if lpips_missing:
        print(f"LPIPS not measured: {lpips_missing}")
    return 0


if __name__ == "__main__":
    run_app(main, EvalConfig, __doc__)
