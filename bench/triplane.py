"""Tri-plane fields: bunny SDF quality against time (beside the hash grid, and rbf when registered), lego val PSNR
against time, collection-fitting throughput (1 vs 2 workers) and tri-plane vs point-cloud classification.

    python -m bench.triplane sdf [--budget 120] [--points 4]
    python -m bench.triplane nerf [--budget 300] [--points 2]
    python -m bench.triplane collection [--per-class 12] [--throughput-shapes 10] [--epochs 100]

Run one part at a time on a shared machine. Each prints a table and JSON.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch

from bench.timing import even_marks, new_run_folder, print_results, train_with_marks
from fields.models import field_types

BUNNY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sdf" / "bunny.obj"  # or --mesh


def _load():
    return os.getloadavg()[0]


def bench_sdf(args) -> None:
    from fields.train.config import TrainSdfConfig
    from fields.geometry_metrics import evaluate_sdf
    from fields.run import cosine, set_lr
    from fields.train.sdf_trainer import SdfTrainer
    from fields.datasets.mesh_sdf import inside
    from fields.geometry_metrics import grid_points

    mesh_path = Path(args.mesh)
    types = [t for t in ("triplane", "hash", "rbf") if t in field_types()]
    rows, true_inside = [], None
    for field_type in types:
        trainer = SdfTrainer(TrainSdfConfig(mesh=mesh_path, field=field_type, output=Path(args.output) / field_type,
                                            progress=False))
        if true_inside is None:
            true_inside = inside(trainer.mesh, grid_points(128))
        marks = [args.budget * (i + 1) / args.points for i in range(args.points)]
        elapsed, step = 0.0, 0
        while marks:
            start = time.perf_counter()
            set_lr(trainer.optimizer, cosine(elapsed / args.budget))
            loss = trainer.loss()
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.optimizer.step()
            elapsed += time.perf_counter() - start
            step += 1
            if elapsed >= marks[0]:
                marks.pop(0)
                with torch.no_grad():
                    metrics = evaluate_sdf(trainer.field.sdf, trainer.mesh, 128, "cpu", true_inside)
                rows.append({"field": field_type, "train_s": round(elapsed, 1), "steps": step,
                             "iou": metrics["iou"], "chamfer": metrics["chamfer"], "load": _load(),
                             "params_M": trainer.field.num_parameters() / 1e6})
                print(f"  {rows[-1]}", flush=True)
    missing = "" if "rbf" in types else "; rbf not registered in this checkout"
    print_results(f"bunny SDF quality vs training time (CPU, {torch.get_num_threads()} threads; IoU on 128^3, "
                  f"Chamfer in normalised units{missing})", rows,
                  ["field", "train_s", "steps", "iou", "chamfer", "params_M", "load"])


def bench_nerf(args) -> None:
    from fields.train.config import TrainNerfConfig
    from fields.train.nerf_trainer import NerfTrainer

    trainer = NerfTrainer(TrainNerfConfig(scene=args.scene, field="triplane", device="cpu", max_time=args.budget,
                                          max_steps=10**9, output=args.output, progress=False, val_views=0,
                                          eval_every=0, save_every=10**9))
    def measure() -> dict:
        metrics = trainer.evaluate(every=args.every)
        return {"val_psnr": metrics["psnr"], "val_ssim": metrics["ssim"], "views": metrics["views"], "load": _load()}

    rows = train_with_marks(trainer, even_marks(args.budget, args.points), measure)
    print_results(f"lego val PSNR vs training time, triplane field (CPU, {torch.get_num_threads()} threads; every "
                  f"{args.every}th val view)", rows, ["train_s", "steps", "val_psnr", "val_ssim", "views", "load"])


def bench_collection(args) -> None:
    from fields.datasets.shapes import write_collection
    from fields.triplanes.classify import ClassifySettings, classify
    from fields.triplanes.collection import fit_collection
    from fields.triplanes.dataset import TriplaneCollection
    from fields.triplanes.store import find_meshes

    root = Path(args.output)
    meshes = root / "shapes"
    if not meshes.exists():
        write_collection(meshes, args.per_class, seed=0)
    jobs = find_meshes(meshes)
    subset = root / "subset"  # the first shapes of every class, for the throughput comparison
    if not subset.exists():
        per_class = max(1, args.throughput_shapes // len({j.label for j in jobs}))
        for job in jobs:
            if int(Path(job.relative_path).stem.rsplit("_", 1)[1]) < per_class:
                target = subset / job.relative_path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(Path(job.mesh_path).resolve())
    rows = []
    for workers in (1, 2):
        summary = fit_collection(subset, root / f"throughput_w{workers}", workers=workers, progress=False)
        run = summary["this_run"]
        rows.append({"part": f"fit subset, {workers} worker(s)", "shapes": run["fitted_or_failed"],
                     "seconds": run["seconds"], "shapes_per_min": run["shapes_per_minute"],
                     "mean_iou": summary["mean_iou"], "load": _load()})
        print(f"  {rows[-1]}", flush=True)
    summary = fit_collection(meshes, root / "triplanes", workers=2, progress=False)
    rows.append({"part": "fit collection, 2 workers", "shapes": summary["fitted"],
                 "seconds": summary["this_run"]["seconds"], "shapes_per_min": summary["this_run"]["shapes_per_minute"],
                 "mean_iou": summary["mean_iou"], "load": _load()})
    result = classify(TriplaneCollection.load(root / "triplanes"), ClassifySettings(epochs=args.epochs))
    (root / "classification.json").write_text(json.dumps(result, indent=1))
    for model in ("triplane_transformer", "pointnet"):
        rows.append({"part": f"classify: {model}", "shapes": result["test_shapes"],
                     "seconds": result[model]["train_seconds"], "accuracy": result[model]["accuracy"],
                     "load": _load()})
    print_results(f"tri-plane collection ({len(jobs)} procedural shapes, {len(result['classes'])} classes; "
                  f"classifiers trained {args.epochs} epochs on {result['train_shapes']} shapes)", rows,
                  ["part", "shapes", "seconds", "shapes_per_min", "mean_iou", "accuracy", "load"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = parser.add_subparsers(dest="part", required=True)
    for part, budget, points in (("sdf", 120.0, 4), ("nerf", 300.0, 2)):
        timed = parts.add_parser(part)
        timed.add_argument("--budget", type=float, default=budget, help="training seconds per field")
        timed.add_argument("--points", type=int, default=points, help="evaluations, evenly spaced in time")
        timed.add_argument("--output", default=new_run_folder(f"bench_triplane_{part}"))
    parts.choices["sdf"].add_argument("--mesh", default=str(BUNNY.resolve()))
    parts.choices["nerf"].add_argument("--every", type=int, default=10)
    parts.choices["nerf"].add_argument("--scene", default="lego")
    collection = parts.add_parser("collection")
    collection.add_argument("--per-class", type=int, default=12)
    collection.add_argument("--throughput-shapes", type=int, default=10)
    collection.add_argument("--epochs", type=int, default=100)
    collection.add_argument("--output", default="outputs/bench_triplane_collection")
    args = parser.parse_args()
    print(f"uptime load average: {os.getloadavg()}")
    {"sdf": bench_sdf, "nerf": bench_nerf, "collection": bench_collection}[args.part](args)


if __name__ == "__main__":
    main()
