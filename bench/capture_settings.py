"""Train on an unbounded capture for the same wall-clock budget with the old fixed render settings and with the
automatic ones (fields/render/scene_settings.py), side by side.

    python -m bench.capture_settings [--budget 120 | --steps N] [--size 96] [--frames 40] [--scene DIR] [--json FILE]

The capture is the procedural scene in front of a textured backdrop at 6 units (instant-ngp transforms.json,
aabb_scale 16, SfM points; fields.datasets.procedural.make_unbounded_capture) unless --scene names another. "fixed"
is what the trainer did before: one 128^3 grid level over the whole box, step 5e-3, cone angle 0; "auto" is the default
now. The two trainers take turns step by step, so that both see the same machine load, each on its own clock, until
each has spent --budget seconds, or (--steps, which a loaded machine cannot skew) taken N steps.
Reports marched and kept (composited) samples per ray, rays per step, steps, occupied share of the grid and val PSNR
(every val view, white background).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from bench.timing import new_run_folder, print_results, synchronize
from fields.datasets.procedural import make_unbounded_capture
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer

SETTINGS = {"fixed": {"grid_levels": 1, "grid_resolution": 128, "render_step_size": 5e-3, "cone_angle": 0.0},
            "auto": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per setting")
    parser.add_argument("--steps", type=int, default=None, help="train N steps each instead of --budget seconds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--scene", default=None, help="an instant-ngp capture (default: the procedural one)")
    parser.add_argument("--size", type=int, default=96, help="procedural capture: image side")
    parser.add_argument("--frames", type=int, default=40, help="procedural capture: frames (every 8th is val)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--output", default=new_run_folder("bench_capture_settings"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scene = args.scene or str(make_unbounded_capture(Path(scratch) / "capture", n_frames=args.frames,
                                                         size=args.size))
        trainers = {name: NerfTrainer(TrainNerfConfig(
            scene=scene, device=args.device, max_time=args.budget, max_steps=10**9, output=Path(args.output) / name,
            progress=False, val_views=0, eval_every=0, save_every=10**9, **options)) for name, options in
            SETTINGS.items()}
        totals = {name: {"marched": 0, "kept": 0, "rays": 0, "counted": 0} for name in trainers}
        wall_start = time.perf_counter()
        def done(trainer) -> bool:
            return trainer.step >= args.steps if args.steps else trainer.elapsed >= args.budget

        while not all(done(t) for t in trainers.values()):
            for name, trainer in trainers.items():
                if done(trainer):
                    continue
                start = time.perf_counter()
                stats = trainer.train_step()
                synchronize(trainer.device)
                trainer.elapsed += time.perf_counter() - start
                if stats and "n_rays" in stats:
                    total = totals[name]
                    total["marched"] += stats["n_marched"]
                    total["kept"] += stats["n_samples"]
                    total["rays"] += stats["n_rays"]
                    total["counted"] += 1
        rows = []
        for name, trainer in trainers.items():
            metrics = trainer.evaluate(every=1)
            total, s = totals[name], trainer.render_settings
            rays = max(total["rays"], 1)
            rows.append({"settings": name, "levels": s.grid_levels, "cells": s.grid_resolution,
                         "step": round(s.render_step_size, 5), "cone": round(s.cone_angle, 5),
                         "box_side": s.scene_aabb[3] - s.scene_aabb[0],
                         "marched_per_ray": round(total["marched"] / rays, 1),
                         "kept_per_ray": round(total["kept"] / rays, 1),
                         "rays_per_step": round(total["rays"] / max(total["counted"], 1)),
                         "steps": trainer.step, "train_s": round(trainer.elapsed, 1),
                         "occupied": round(trainer.grid.occupied_fraction(), 4),
                         "val_psnr": round(metrics["psnr"], 2), "val_ssim": round(metrics["ssim"], 4),
                         "val_views": metrics["views"]})
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    budget = f"{args.steps} steps" if args.steps else f"{args.budget:.0f} s"
    title = (f"unbounded capture ({args.scene or f'procedural, {args.frames} frames of {args.size}px, aabb_scale 16'}"
             f"), {budget} each ({device}, turns taken step by step; wall "
             f"{time.perf_counter() - wall_start:.0f} s); val PSNR on every val view, white background")
    columns = ["settings", "levels", "cells", "step", "cone", "box_side", "marched_per_ray", "kept_per_ray",
               "rays_per_step", "steps", "train_s", "occupied", "val_psnr", "val_ssim", "val_views"]
    print_results(title, rows, columns)
    if args.json:
        Path(args.json).write_text(json.dumps({"benchmark": title, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
