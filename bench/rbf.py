"""The rbf field (GNF) beside the hash field, on the same grid and the same wall-clock budget.

    python -m bench.rbf images [--budget 60] [--points 3] [--fields rbf hash] [--device cpu|cuda]
    python -m bench.rbf sdf    [--budget 60] [--points 2] [--mesh ../shared/data/sdf/bunny.obj]
    python -m bench.rbf lego   [--budget 300] [--points 3] [--fields rbf] [--data-root ../shared/data]

Both fields get the same multiresolution grid (the rbf defaults for the signal), so they differ only in the decoder:
one Gaussian RBF layer + linear read-out (rbf) against the one-hidden-layer ReLU MLP (hash). Budgets count training
steps only; evaluation pauses the clock. Images: skimage's sample photographs, PSNR on all pixels. SDF: the Stanford
bunny, IoU on a 128^3 grid and Chamfer distance (normalised units). Lego: val split, every 10th view, white
background, and frames/s of one 400x400 val view. Prints a table and JSON.
"""
import argparse
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import skimage.data
import torch

from bench.timing import even_marks, print_results, synchronize, train_with_marks
from fields.models.backbones.rbf import GaussianRbfBackbone
from fields.train.config import TrainImageConfig, TrainNerfConfig, TrainSdfConfig
from fields.run.evaluation import render_field_view
from fields.train.image_trainer import ImageTrainer
from fields.train.nerf_trainer import NerfTrainer
from fields.geometry_metrics import evaluate_sdf
from fields.run import Budget, cosine, set_lr
from fields.train.sdf_trainer import SdfTrainer

IMAGES = ("astronaut", "coffee", "chelsea", "camera")
GRID_OPTIONS = ("n_levels", "n_features_per_level", "log2_hashmap_size", "base_resolution", "finest_resolution")


def same_grid(field: str, signal: str) -> dict:
    """The rbf defaults' grid for both fields (the hash field keeps its own MLP)."""
    grid = {k: v for k, v in GaussianRbfBackbone.defaults(signal).items() if k in GRID_OPTIONS}
    return {} if field == "rbf" else grid


def fit_with_marks(step_fn, optimizer, budget: float, points: int, evaluate, device: torch.device) -> list[dict]:
    """Runs ``step_fn`` (returns a loss) for ``budget`` training seconds; calls ``evaluate()`` at ``points`` evenly
    spaced times with the clock paused."""
    marks = [budget * (i + 1) / points for i in range(points)]
    rows, step, elapsed = [], 0, 0.0
    while marks:
        start = time.perf_counter()
        set_lr(optimizer, cosine(Budget(None, budget).progress(step, elapsed)))
        loss = step_fn()
        optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            optimizer.step()
        synchronize(device)
        step += 1
        elapsed += time.perf_counter() - start
        if elapsed >= marks[0]:
            marks.pop(0)
            rows.append({"train_s": round(elapsed, 1), "steps": step, **evaluate()})
            print(f"    {rows[-1]}", flush=True)
    return rows


def bench_images(args, workdir: Path) -> list[dict]:
    rows = []
    for name in IMAGES:
        path = workdir / f"{name}.png"
        iio.imwrite(path, getattr(skimage.data, name)())
        for field in args.fields:
            config = TrainImageConfig(image=path, field=field, device=args.device, progress=False,
                                      output=workdir / "runs" / name / field, field_options=same_grid(field, "image"))
            trainer = ImageTrainer(config)
            print(f"  {name} / {field}: {trainer.field.num_parameters() / 1e6:.3f} M parameters", flush=True)
            marks = fit_with_marks(trainer.loss, trainer.optimizer, args.budget, args.points,
                                   lambda: {"psnr": round(float(trainer.evaluate()["psnr"]), 2)}, trainer.device)
            rows += [{"image": name, "field": field, "params_M": trainer.field.num_parameters() / 1e6, **m}
                     for m in marks]
    return rows


def bench_sdf(args, workdir: Path) -> list[dict]:
    rows = []
    for field in args.fields:
        config = TrainSdfConfig(mesh=args.mesh, field=field, device=args.device, progress=False,
                                output=workdir / field, field_options=same_grid(field, "sdf"))
        trainer = SdfTrainer(config)
        print(f"  bunny / {field}: {trainer.field.num_parameters() / 1e6:.3f} M parameters", flush=True)

        def evaluate():
            trainer.field.eval()
            metrics = evaluate_sdf(trainer.field.sdf, trainer.mesh, 128, trainer.device)
            trainer.field.train()
            return {"iou": round(metrics["iou"], 4), "chamfer": metrics["chamfer"]}

        marks = fit_with_marks(trainer.loss, trainer.optimizer, args.budget, args.points, evaluate, trainer.device)
        rows += [{"mesh": "bunny", "field": field, "params_M": trainer.field.num_parameters() / 1e6, **m}
                 for m in marks]
    return rows


def bench_lego(args, workdir: Path) -> list[dict]:
    rows = []
    for field in args.fields:
        config = TrainNerfConfig(scene="lego", data_root=args.data_root, field=field, device=args.device,
                                 max_time=args.budget, max_steps=10**9, output=workdir / field, progress=False,
                                 val_views=0, eval_every=0, save_every=10**9,
                                 field_options=same_grid(field, "radiance"))
        trainer = NerfTrainer(config)
        print(f"  lego / {field}: {trainer.field.num_parameters() / 1e6:.3f} M parameters", flush=True)
        def measure() -> dict:
            return {"scene": "lego", "field": field, "params_M": trainer.field.num_parameters() / 1e6,
                    "val_psnr": round(trainer.evaluate(every=10)["psnr"], 2)}

        rows += train_with_marks(trainer, even_marks(args.budget, args.points), measure)
        trainer.field.eval()
        start = time.perf_counter()
        with torch.no_grad():
            render_field_view(trainer.field, trainer.grid, trainer.val_data, 0, trainer.config.render_step_size,
                              trainer.config.cone_angle, trainer.device)
        synchronize(trainer.device)
        rows[-1]["render_fps_400"] = round(1.0 / (time.perf_counter() - start), 4)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("images", "sdf", "lego"))
    parser.add_argument("--budget", type=float, default=None, help="training seconds (60; lego 300)")
    parser.add_argument("--points", type=int, default=3, help="evaluations, evenly spaced in time")
    parser.add_argument("--fields", nargs="+", default=["rbf", "hash"])
    parser.add_argument("--mesh", type=Path, default=Path("../shared/data/sdf/bunny.obj"))
    parser.add_argument("--data-root", type=Path, default=None, help="where lego lives (default: the usual search)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    args.budget = args.budget or (300.0 if args.task == "lego" else 60.0)
    run = {"images": bench_images, "sdf": bench_sdf, "lego": bench_lego}[args.task]
    with tempfile.TemporaryDirectory() as workdir:
        rows = run(args, Path(workdir))
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print_results(f"rbf vs hash, {args.task}, same grid, {args.budget:.0f} s budget ({device})", rows, list(rows[0]))


if __name__ == "__main__":
    main()
