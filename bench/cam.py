"""CAM against the same field without it: images (FFN vs FFN+CAM) and lego (MLP NeRF vs MLP+CAM).

    python -m bench.cam images [--size 64] [--steps 300] [--hidden-dim 64] [--n-frequencies 64] [--cam-resolution 8]
                               [--sigma S] [--lr LR]
    python -m bench.cam images --size 128 --hidden-dim 64 --n-frequencies 64 --sigma 5 --cam-resolution 8 --steps 2000
    python -m bench.cam lego [--budget 300 | --steps N] [--downscale 2] [--cam-options JSON] [--skip-baseline]
                             [--freeze-cam-grids] [--seed 0]

images: photographs from skimage.data, resized to size x size (CPU time), fitted by apps/train_image.py's trainer
at the same steps with and without --cam, for regression (all pixels) and generalisation (--holdout-every 2: train
on every second pixel, PSNR on the others).
CAM's regime: CAM_image.py fits 512^2 images with a 3 x 256 FFN (about as many parameters as pixels, i.e. the network
under-fits) for 2000 steps, with Fourier features of sigma 10 on [0, 1] coordinates. The second command is that regime
scaled to 128^2 (3 x 64, 16.8 K parameters for 16.4 K pixels; sigma 5 on our [-1, 1] coordinates is sigma 10 on
[0, 1]; 8^2 grids keep CAM's 16 x 16 pixels per grid cell and +2.3 % parameters). With far more parameters than
pixels (the defaults) the plain FFN memorises the image and CAM has little to add.
lego: the baseline trains for --budget seconds (or --steps steps, which does not depend on the machine's load); the
CAM run then trains for the same number of steps (its time is reported). Val split, white background, every
--every-th view. One run at a time. Prints a table and JSON. --cam-options gives the CAM run's field options as
JSON instead of --cam's (e.g. '{"color_cam": {"norm": "layer"}, "cam": {"resolution": 5, "norm": "none"}}': colour
head modulated by view direction, trunk by xyz tri-planes); with --steps, --skip-baseline trains the CAM run alone.
--freeze-cam-grids is the ablation that keeps the CAM run's grids at the identity, so that only CAM's normalisation
(e.g. the trunk LayerNorm of '{"cam": {"resolution": 5, "norm": "layer"}}') differs from the baseline.
"""
import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.timing import print_results
from fields.models.cam import CoordinateModulation
from fields.train.config import TrainImageConfig, TrainNerfConfig
from fields.train.image_trainer import ImageTrainer
from fields.train.nerf_trainer import NerfTrainer

IMAGES = ("astronaut", "coffee", "chelsea", "camera")


def photograph(name: str, size: int, folder: Path) -> Path:
    """skimage.data's image ``name``, centre-cropped to a square, resized to size^2, saved as an RGB PNG."""
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = Image.fromarray(pixels[top:top + side, left:left + side, :3]).resize((size, size), Image.LANCZOS)
    path = folder / f"{name}_{size}.png"
    image.save(path)
    return path


def bench_images(args) -> None:
    rows = []
    field_options = {"hidden_dim": args.hidden_dim, "n_frequencies": args.n_frequencies}
    if args.sigma is not None:
        field_options["sigma"] = args.sigma
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.images:
            path = photograph(name, args.size, Path(tmp))
            for holdout in (None, 2):
                for cam in (False, True):
                    config = TrainImageConfig(image=path, field=args.field, max_steps=args.steps, holdout_every=holdout,
                                              cam=cam, cam_resolution=(args.cam_resolution,) * 2, lr=args.lr,
                                              field_options=field_options,
                                              output=Path(tmp) / f"{name}_{holdout}_{cam}", device="cpu",
                                              progress=False)
                    metrics = ImageTrainer(config).run()
                    rows.append({"image": name, "task": "generalisation" if holdout else "regression",
                                 "field": args.field + ("+cam" if cam else ""),
                                 "psnr": metrics["psnr_holdout"] if holdout else metrics["psnr"],
                                 "train_s": round(metrics["train_seconds"], 1), "steps": metrics["steps"],
                                 "params": metrics["num_parameters"], "size_mb": round(metrics["size_mb"], 4)})
    for task in ("regression", "generalisation"):
        for field in (args.field, args.field + "+cam"):
            psnrs = [r["psnr"] for r in rows if r["task"] == task and r["field"] == field]
            rows.append({"image": "mean", "task": task, "field": field, "psnr": float(np.mean(psnrs))})
    sigma = "" if args.sigma is None else f", sigma {args.sigma:g}"
    lr = "" if args.lr is None else f", lr {args.lr:g}"
    print_results(f"{args.field} ({args.hidden_dim} wide, {args.n_frequencies} frequencies{sigma}) vs {args.field}+CAM "
                  f"({args.cam_resolution}^2 grid per layer) on {len(args.images)} photographs at {args.size}^2, "
                  f"{args.steps} steps{lr} (PSNR: all pixels for regression, held-out pixels for generalisation)", rows,
                  ["image", "task", "field", "psnr", "train_s", "steps", "params", "size_mb"])


def freeze_cam_grids(field: torch.nn.Module) -> None:
    """Keeps every CAM grid at its initial identity (gamma 1, beta 0): what is left of CAM is its normalisation.
    Adam skips parameters that never get a gradient."""
    for module in field.modules():
        if isinstance(module, CoordinateModulation):
            module.grid.requires_grad_(False)


def bench_lego(args) -> None:
    rows = []
    common = dict(scene="lego", field="mlp", device="cpu", downscale=args.downscale, progress=False, val_views=0,
                  eval_every=args.every, save_every=10**9, grid_resolution=args.grid_resolution,
                  target_samples=args.target_samples, seed=args.seed)
    cam_options = args.cam_options if args.cam_options is not None else {"color_cam": {}}  # what --cam means
    steps = args.steps
    for cam in (False, True) if not args.skip_baseline else (True,):
        budget = dict(max_time=args.budget, max_steps=10**9) if steps is None else dict(max_steps=steps)
        output = Path(args.output) / ("mlp_cam" if cam else "mlp")
        options = cam_options if cam else {}
        trainer = NerfTrainer(TrainNerfConfig(**common, **budget, field_options=options, output=output))
        if cam and args.freeze_cam_grids:
            freeze_cam_grids(trainer.field)
        result = trainer.run()
        steps = result.step
        final = result.final_metrics
        label = f"+cam {json.dumps(options)}" + (" frozen" if args.freeze_cam_grids else "") if cam and options else ""
        rows.append({"field": "mlp" + label, "steps": result.step,
                     "train_s": round(result.train_seconds, 1), "val_psnr": final["psnr"], "val_ssim": final["ssim"],
                     "views": final["views"], "params": final["num_parameters"],
                     "size_mb": round(final["size_mb"], 4)})
        print(f"  {rows[-1]}", flush=True)
    print_results(f"lego, MLP NeRF vs MLP+CAM at the same steps (CPU; downscale {args.downscale}, occupancy grid "
                  f"{args.grid_resolution}^3, {args.target_samples} samples per step; val every {args.every}th view, "
                  f"white background)", rows,
                  ["field", "steps", "train_s", "val_psnr", "val_ssim", "views", "params", "size_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    images = sub.add_parser("images")
    images.add_argument("--images", nargs="+", default=list(IMAGES))
    images.add_argument("--size", type=int, default=64, help="side of the resized photographs (CPU time)")
    images.add_argument("--steps", type=int, default=300)
    images.add_argument("--hidden-dim", type=int, default=64)
    images.add_argument("--n-frequencies", type=int, default=64)
    images.add_argument("--cam-resolution", type=int, default=8)
    images.add_argument("--field", default="ffn")
    images.add_argument("--sigma", type=float, default=None,
                        help="ffn Fourier-feature scale on [-1, 1] coordinates (default: the field's own, 10)")
    images.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the field type's own)")
    lego = sub.add_parser("lego")
    lego.add_argument("--budget", type=float, default=300.0, help="baseline training seconds")
    lego.add_argument("--steps", type=int, default=None, help="train both for this many steps instead of a budget")
    lego.add_argument("--downscale", type=int, default=2)
    lego.add_argument("--every", type=int, default=20)
    lego.add_argument("--grid-resolution", type=int, default=64)
    lego.add_argument("--target-samples", type=int, default=1 << 14)
    lego.add_argument("--output", default="outputs/bench_cam_lego")
    lego.add_argument("--seed", type=int, default=0)
    lego.add_argument("--cam-options", default=None,
                      help='the CAM run\'s field options as JSON (default: --cam\'s, \'{"color_cam": {}}\')')
    lego.add_argument("--skip-baseline", action="store_true", help="with --steps: train only the CAM run")
    lego.add_argument("--freeze-cam-grids", action="store_true",
                      help="ablation: the CAM run's grids stay at the identity, so only CAM's normalisation acts")
    args = parser.parse_args()
    if args.what == "lego" and args.skip_baseline and args.steps is None:
        parser.error("--skip-baseline needs --steps (the CAM run's steps come from the baseline's budget otherwise)")
    if args.what == "lego" and args.cam_options is not None:
        try:
            args.cam_options = json.loads(args.cam_options)
        except json.JSONDecodeError as error:
            parser.error(f"--cam-options must be JSON, e.g. '{{\"cam\": {{\"resolution\": 5}}}}' ({error})")
        if not isinstance(args.cam_options, dict):
            parser.error(f"--cam-options must be a JSON object of field options, got {args.cam_options!r}")
    print(f"load: {os.getloadavg()}", flush=True)
    bench_images(args) if args.what == "images" else bench_lego(args)


if __name__ == "__main__":
    main()
