"""PVD on lego: student val PSNR against wall-clock time, side by side with training the same field type from
scratch on the images; with and without active learning; and the PSNR of other conversions against the teacher.

    python -m bench.pvd --teacher outputs/lego/hash/RUN/checkpoints/latest.safetensors [--budget 240]
        [--to mlp] [--pairs ffn siren finer] [--pair-budget 120] [--target-samples 8192] [--downscale 8]
        [--every 34] [--pairs-only]

Every model (teacher included) is measured on the same val views (every K-th, downscaled, white background). The
clocks count distillation / training steps only; evaluation pauses them. ``--pairs-only`` skips the curves (PVD-AL,
PVD and training from scratch) and measures only the converted pairs. Prints tables and JSON.
"""
import argparse
import time
from pathlib import Path

from bench.timing import new_run_folder, print_results, train_with_marks
from fields.datasets import load_scene
from fields.distill import ConvertConfig, Distiller
from fields.train.config import TrainNerfConfig
from fields.run.evaluation import evaluate_views
from fields.train.nerf_trainer import NerfTrainer

MARKS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


def measure(field, grid, val, render, every) -> float:
    field.eval()
    indices = list(range(0, val.num_images, every))
    return evaluate_views(field, grid, val, indices, render["render_step_size"], render["cone_angle"],
                          grid.aabb.device)["mean"]["psnr"]


def curve(name, runner, field, grid, render, budget, val, every) -> list[dict]:
    """Steps ``runner`` (a Distiller or NerfTrainer) for ``budget`` seconds, measuring val PSNR at MARKS."""
    return train_with_marks(runner, [budget * m for m in MARKS],
                            lambda: {"run": name, "val_psnr": round(measure(field, grid, val, render, every), 2)})


def distiller(args, to, budget, output, **options) -> Distiller:
    config = ConvertConfig(checkpoint=args.teacher, to=to, max_time=budget, max_steps=10**9, output=output,
                           progress=False, val_views=0, eval_every=0,
                           target_samples=args.target_samples, **options)
    return Distiller(config)


def curves(args, active: Distiller, val, render, scene_path, teacher_psnr: float) -> list[dict]:
    """PVD-AL (``active``), PVD and training from scratch to ``args.to`` against time; returns the PVD-AL row of the
    converted pairs."""
    rows = curve("pvd-al", active, active.student, active.grid, render, args.budget, val, args.every)
    plain = distiller(args, args.to, args.budget, args.output / "pvd")
    rows += curve("pvd", plain, plain.student, plain.grid, render, args.budget, val, args.every)
    del plain
    scratch = NerfTrainer(TrainNerfConfig(scene=str(scene_path), field=args.to,
                                          max_time=args.budget, max_steps=10**9, output=args.output / "scratch",
                                          progress=False, val_views=0, eval_every=0, save_every=10**9,
                                          target_samples=args.target_samples))
    rows += curve("scratch", scratch, scratch.field, scratch.grid, render, args.budget, val, args.every)
    print_results(f"hash -> {args.to} on lego: val PSNR vs wall-clock seconds (teacher {teacher_psnr:.2f} dB; "
                  f"val every {args.every}th view at 1/{args.downscale} resolution, white background)",
                  rows, ["run", "train_s", "steps", "val_psnr"])

    final_scratch = rows[-1]["val_psnr"]
    summary = []
    for run in ("pvd-al", "pvd"):
        reached = [r["train_s"] for r in rows if r["run"] == run and r["val_psnr"] >= final_scratch]
        summary.append({"run": run, "reaches_scratch_final_at_s": reached[0] if reached else None,
                        "speedup": round(args.budget / reached[0], 1) if reached else None})
    print_results(f"time to reach the from-scratch {args.to}'s final {final_scratch:.2f} dB (budget "
                  f"{args.budget:.0f} s; speed-up = budget / time, a lower bound: measured at {MARKS})",
                  summary, ["run", "reaches_scratch_final_at_s", "speedup"])
    return [{"pair": f"hash -> {args.to}", "budget_s": args.budget, "al": "yes",
             "val_psnr": next(r["val_psnr"] for r in reversed(rows) if r["run"] == "pvd-al")}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--to", default="mlp")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per curve")
    parser.add_argument("--pairs", nargs="*", default=["ffn", "siren", "finer"])
    parser.add_argument("--pair-budget", type=float, default=120.0)
    parser.add_argument("--target-samples", type=int, default=1 << 13,
                        help="samples per step, the same for distillation and training from scratch")
    parser.add_argument("--downscale", type=int, default=8)
    parser.add_argument("--every", type=int, default=34, help="measure every K-th val view")
    parser.add_argument("--output", type=Path, default=Path(new_run_folder("bench_pvd")))
    parser.add_argument("--pairs-only", action="store_true", help="skip the curves; measure the --pairs only")
    args = parser.parse_args()

    active = distiller(args, args.to, args.budget, args.output / "pvd_al", active_learning=True)
    val = load_scene(active.scene_path, "val", downscale=args.downscale)
    render, scene_path = active.render, active.scene_path
    teacher_psnr = measure(active.teacher, active.grid, val, render, args.every)
    print(f"teacher ({active.teacher_info['type']}, step {active.teacher_info['step']}): {teacher_psnr:.2f} dB")
    pairs = [] if args.pairs_only else curves(args, active, val, render, scene_path, teacher_psnr)
    del active
    for to in args.pairs:
        student = distiller(args, to, args.pair_budget, args.output / f"pair_{to}", active_learning=True)
        while student.elapsed < args.pair_budget:
            start = time.perf_counter()
            student.train_step()
            student.elapsed += time.perf_counter() - start
        pairs.append({"pair": f"hash -> {to}", "budget_s": args.pair_budget, "al": "yes", "steps": student.step,
                      "val_psnr": round(measure(student.student, student.grid, val, render, args.every), 2)})
        print(f"  {pairs[-1]}", flush=True)
    for row in pairs:
        row["minus_teacher_db"] = round(row["val_psnr"] - teacher_psnr, 2)
    print_results(f"converted pairs vs their teacher ({teacher_psnr:.2f} dB, same views)", pairs,
                  ["pair", "budget_s", "al", "steps", "val_psnr", "minus_teacher_db"])


if __name__ == "__main__":
    main()
