"""Turn photographs or a video into a posed scene folder (structure from motion with pycolmap, on the CPU).

    python apps/process_data.py --images photos/ --output data/my_scene
    python apps/process_data.py --video walkaround.mp4 --output data/my_scene --num-frames 150
    python apps/train_nerf.py --scene data/my_scene

The folder gets images/ (+ images_2/, images_4/), transforms.json, sparse_pc.ply, colmap/ (database and
sparse/0) and process_report.json. Rerunning the same command reuses the finished stages (after Ctrl+C too).
"""
import os
import sys

import tyro

from fields.capture import CaptureError, CaptureOptions, Interrupted, process_capture


def main(options: CaptureOptions) -> int:
    try:
        report = process_capture(options)
    except CaptureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as interrupt:
        stage = f" during {interrupt.stage}" if isinstance(interrupt, Interrupted) else ""
        print(f"error: interrupted{stage}; finished stages are kept in {options.output}: run the same command again "
              "to continue", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)  # a pycolmap call that cannot be cancelled may still hold a thread: do not wait for it
    seconds = ", ".join(f"{stage} {value:.1f}s" for stage, value in report["seconds"].items())
    print(f"{options.output}: {report['registered']} of {report['imported']} images registered, "
          f"{report['num_points']} points, mean reprojection error {report['mean_reprojection_error_px']:.2f} px "
          f"({seconds}; reused: {', '.join(report['reused_stages']) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(CaptureOptions, description=__doc__)))
