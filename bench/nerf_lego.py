"""Train the hash-grid field on lego for a fixed wall-clock budget and print val PSNR against training time.

    python -m bench.nerf_lego [--budget 600] [--device cpu|cuda] [--points 4] [--every 10] [--target-samples N]

Val split, white background, every 10th view (10 of 100), 400x400. The budget counts training steps only;
evaluation pauses the clock. Prints a table and JSON, and leaves the final checkpoint in --output (for
`python -m bench.viewer --checkpoint`).
"""
import argparse
import resource
import time

import torch

from bench.timing import even_marks, new_run_folder, print_results, train_with_marks
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--points", type=int, default=4, help="evaluations, evenly spaced in time")
    parser.add_argument("--every", type=int, default=10, help="evaluate every K-th val view")
    parser.add_argument("--scene", default="lego")
    parser.add_argument("--data-root", default=None, help="where lego lives (default: the usual search)")
    parser.add_argument("--target-samples", type=int, default=None,
                        help="samples per step (default: the trainer's, 2^18 on a GPU, 2^16 on a CPU)")
    parser.add_argument("--output", default=new_run_folder("bench_nerf_lego"))
    args = parser.parse_args()

    config = TrainNerfConfig(scene=args.scene, data_root=args.data_root, device=args.device, max_time=args.budget,
                             max_steps=10**9, output=args.output, progress=False, val_views=0, eval_every=0,
                             save_every=10**9, target_samples=args.target_samples)
    trainer = NerfTrainer(config)
    wall_start = time.perf_counter()

    def measure() -> dict:
        metrics = trainer.evaluate(every=args.every)
        return {"val_psnr": metrics["psnr"], "val_ssim": metrics["ssim"], "views": metrics["views"]}

    rows = train_with_marks(trainer, even_marks(args.budget, args.points), measure)
    trainer.save()
    on_gpu = trainer.device.type == "cuda"
    device = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    extra = {"peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30} if on_gpu else {}
    print_results(
        f"lego val PSNR vs training time ({device}; {trainer.target_samples} samples/step; white background, "
        f"every {args.every}th val view; "
        f"peak RSS {peak_rss_gb:.2f} GB; wall {time.perf_counter() - wall_start:.0f} s)",
        [r | extra for r in rows], ["train_s", "steps", "val_psnr", "val_ssim", "views"],
    )


if __name__ == "__main__":
    main()
