"""Turn photographs or a video into a posed scene folder (structure from motion with pycolmap, on the CPU).

    python apps/process_data.py --images photos/ --output data/my_scene
    python apps/process_data.py --video walkaround.mp4 --output data/my_scene --num-frames 150
    python apps/train_nerf.py --scene data/my_scene

The folder gets images/ (+ images_2/, images_4/), transforms.json, sparse_pc.ply, colmap/ (database and
sparse/0) and process_report.json. Rerunning the same command reuses the finished stages (after Ctrl+C too).
"""
from fields.capture import CaptureError, CaptureOptions, process_capture
from fields.run import run_app, user_errors


def main(options: CaptureOptions) -> int:
    with user_errors(CaptureError):
        report = process_capture(options)
    seconds = ", ".join(f"{stage} {value:.1f}s" for stage, value in report["seconds"].items())
    print(f"{options.output}: {report['registered']} of {report['imported']} images registered, "
          f"{report['num_points']} points, mean reprojection error {report['mean_reprojection_error_px']:.2f} px "
          f"({seconds}; reused: {', '.join(report['reused_stages']) or 'none'})")
    return 0


if __name__ == "__main__":
    run_app(main, CaptureOptions, __doc__)
