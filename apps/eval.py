"""Render every K-th view of a split from a checkpoint on a white background and measure PSNR/SSIM.

    python apps/eval.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --split val
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from fields.datasets import load_scene
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
    downscale: int = 1


@torch.no_grad()  # rendering only
def main(config: EvalConfig) -> int:
    with user_errors():  # scene, checkpoint and option errors
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
        scene = load_scene(scene_path, config.split, downscale=config.downscale)
    print(f"evaluating {checkpoint} (step {meta.get('step')}) on the {config.split} split of {scene_path}")
    indices = list(range(0, scene.num_images, config.every))
    render = meta["render"]
    result = evaluate_views(field, grid, scene, indices, render["render_step_size"], render["cone_angle"], device,
                            image_dir=output, progress=True)
    metrics = result["mean"] | {"split": config.split, "every": config.every, "background": "white",
                                "scene": str(scene_path), "checkpoint": str(checkpoint), "step": meta.get("step"),
                                "lpips": None, "per_view": result["views"]}
    write_json(output / "metrics.json", metrics)
    print(f"{config.split} of {scene_path.name}: {len(indices)} views, PSNR {metrics['psnr']:.2f} dB, SSIM "
          f"{metrics['ssim']:.4f} (white background); images and metrics.json in {output}")
    return 0


if __name__ == "__main__":
    run_app(main, EvalConfig, __doc__)
