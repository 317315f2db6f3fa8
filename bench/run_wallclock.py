"""Wall-clock time of a whole training run on a phone-sized capture with the README's defaults: a capture of 50
photographs of 1080x1920 (written by bench.capture_memory's writer), trained with ``apps/train_nerf.py --scene DIR
--max-time 300`` and nothing else, timed from the command's start to its exit.

    python -m bench.run_wallclock [--num-images 50] [--width 1080] [--height 1920] [--max-time 300] [--keep DIR]

The target: such a run finishes within 6 minutes (the 5-minute budget counts periodic validation and checkpoint
writes; loading and the final evaluation come on top). Reports the total, the phases read from the run's output
(loading until the first step, the loop, the final evaluation), the steps, the downscale the trainer chose and the
periodic validation's share.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.capture_memory import write_capture
from bench.timing import print_results

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=50)
    parser.add_argument("--width", type=int, default=1080)
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--max-time", type=float, default=300.0)
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the capture here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="run_wallclock") as temporary:
        scene = write_capture(args.keep or Path(temporary) / "capture", args.num_images, args.width, args.height)
        output = Path(temporary) / "run"
        command = [sys.executable, str(ROOT / "apps" / "train_nerf.py"), "--scene", str(scene), "--output",
                   str(output), "--max-time", str(args.max_time), "--no-progress"]
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        marks = {}
        for line in process.stdout:  # the phases, from when the run announces them
            if line.startswith("training ") and "loaded" not in marks:
                marks["loaded"] = time.perf_counter() - start
            elif line.startswith("checkpoint: "):
                marks["loop_done"] = time.perf_counter() - start
                marks["summary"] = line.strip()
        process.wait()
        total = time.perf_counter() - start
        if process.returncode != 0:
            raise SystemExit(f"the run failed with exit code {process.returncode}")
        config = json.loads((output / "config.json").read_text())
        evaluation = json.loads((output / "eval_val.json").read_text())
    row = {"images": args.num_images, "size": f"{args.width}x{args.height}", "downscale": config["downscale"],
           "max_time_s": args.max_time, "loading_s": round(marks["loaded"], 1),
           "loop_s": round(marks["loop_done"] - marks["loaded"], 1),
           "final_eval_s": round(total - marks["loop_done"], 1), "total_s": round(total, 1),
           "steps": evaluation["step"], "val_psnr": round(evaluation["psnr"], 2), "within_6_min": total <= 360.0}
    print(marks["summary"])
    print_results(f"one training run with the defaults and --max-time {args.max_time:.0f} (CPU, "
                  f"{os.cpu_count()} cores)", [row], list(row))


if __name__ == "__main__":
    main()
