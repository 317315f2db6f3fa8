"""Structure from motion on lego: are the withheld poses recovered, how many images register, how long it takes.

    python -m bench.capture [--work outputs/bench_capture] [--video] [--mapper incremental|global]

lego's 100 train and 100 val images (400x400, composited on white) go through process_data as a plain folder of
photographs (train_000.png ..., val_000.png ...; poses withheld) with ``--holdout 'val_*'``, so the scene's val split
is exactly lego's val images. The recovered cameras are aligned to the given ones by a similarity (Umeyama on
camera centres) and compared: rotation error in degrees, position error in lego units and as a fraction of the
camera orbit radius. ``--video`` also writes a video of the val images in orbit order (a nearest-neighbour walk
over their cameras; 10 fps, H.264) and processes it through the video path. Prints a table and JSON; the scene folders stay in --work, ready
for ``apps/train_nerf.py --scene WORK/images_scene``.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from bench.timing import print_results
from fields.capture import CaptureError, CaptureOptions, process_capture
from fields.capture.alignment import pose_errors
from fields.datasets import find_scene

VIDEO_FPS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("outputs/bench_capture"))
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--video", action="store_true", help="also process a video of the val images")
    parser.add_argument("--mapper", choices=("incremental", "global"), default="incremental")
    parser.add_argument("--fresh", action="store_true", help="delete earlier scene folders first (no reuse)")
    args = parser.parse_args()

    lego = find_scene("lego", args.data_root)
    truth = {}  # input file name -> true camera-to-world
    inputs = args.work / "lego_inputs"
    for split in ("train", "val"):
        truth.update(write_inputs(lego, split, inputs))
    rows = [run_case("images", CaptureOptions(output=args.work / "images_scene", images=inputs, holdout="val_*",
                                              mapper=args.mapper), truth, args.fresh)]
    if args.video:
        video_path, frame_truth = write_orbit_video(lego, args.work)
        rows.append(run_case("video", CaptureOptions(output=args.work / "video_scene", video=video_path,
                                                     num_frames=len(frame_truth), mapper=args.mapper),
                             frame_truth, args.fresh))
    print_results("lego through apps/process_data.py (pycolmap, CPU; poses withheld, similarity-aligned)", rows,
                  ["input", "images", "registered", "rate", "import_s", "features_s", "matching_s", "mapping_s",
                   "sfm_s", "rot_mean_deg", "rot_max_deg", "pos_mean", "pos_max", "pos_mean_radius",
                   "reproj_px", "points"])


def write_inputs(lego: Path, split: str, folder: Path) -> dict[str, np.ndarray]:
    """lego's ``split`` images composited on white as ``{split}_{i:03d}.png``; returns name -> true pose."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = json.loads((lego / f"transforms_{split}.json").read_text())["frames"]
    truth = {}
    for index, frame in enumerate(frames):
        name = f"{split}_{index:03d}.png"
        if not (folder / name).is_file():
            on_white(lego / (frame["file_path"] + ".png")).save(folder / name)
        truth[name] = np.array(frame["transform_matrix"])
    return truth


def on_white(path: Path) -> Image.Image:
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def orbit_order(positions: np.ndarray) -> list[int]:
    """A walk through all cameras: from the one of smallest azimuth, always on to the nearest camera not yet seen.
    lego's val cameras are scattered over the hemisphere, so sorting by azimuth alone jumps in elevation between
    neighbouring frames; a video needs neighbours that overlap."""
    start = int(np.argmin(np.arctan2(positions[:, 1], positions[:, 0])))
    order, left = [start], set(range(len(positions))) - {start}
    while left:
        here = positions[order[-1]]
        order.append(min(left, key=lambda i: float(np.linalg.norm(positions[i] - here))))
        left.remove(order[-1])
    return order


def write_orbit_video(lego: Path, work: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """The val images along a nearest-neighbour walk as an H.264 video; returns (path, frame file name -> true
    pose)."""
    frames = json.loads((lego / "transforms_val.json").read_text())["frames"]
    poses = [np.array(f["transform_matrix"]) for f in frames]
    order = orbit_order(np.stack([pose[:3, 3] for pose in poses]))
    path = work / "lego_val_walk.mp4"
    if not path.is_file():
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=VIDEO_FPS)
            stream.width, stream.height, stream.pix_fmt = 400, 400, "yuv420p"
            stream.options = {"crf": "18"}
            for i in order:
                image = on_white(lego / (frames[i]["file_path"] + ".png"))
                container.mux(stream.encode(av.VideoFrame.from_image(image)))
            container.mux(stream.encode())
    # every frame is kept (num_frames = frame count), and frame_00001.jpg is the first of the video
    return path, {f"frame_{k + 1:05d}.jpg": poses[i] for k, i in enumerate(order)}


def run_case(label: str, options: CaptureOptions, truth: dict[str, np.ndarray], fresh: bool) -> dict:
    if fresh:
        shutil.rmtree(options.output, ignore_errors=True)
    start = time.perf_counter()
    try:
        report = process_capture(options)
    except CaptureError as error:
        print(f"{label}: error: {error}", file=sys.stderr)
        return {"input": label, "error": str(error)}
    wall = time.perf_counter() - start
    frames = json.loads((options.output / "transforms.json").read_text())["frames"]
    names = [Path(f["file_path"]).name for f in frames]
    recovered = np.stack([np.array(f["transform_matrix"]) for f in frames])
    true = np.stack([truth[name] for name in names])
    radius = float(np.linalg.norm(true[:, :3, 3], axis=1).mean())
    errors = pose_errors(recovered, true, scene_size=1.0)
    seconds = report["seconds"]
    return {
        "input": label, "images": report["imported"], "registered": report["registered"],
        "rate": report["registration_rate"],
        **{f"{stage}_s": round(seconds.get(stage, 0.0), 1) for stage in ("import", "features", "matching", "mapping")},
        "sfm_s": round(sum(seconds.get(s, 0.0) for s in ("features", "matching", "mapping")), 1),
        "wall_s": round(wall, 1), "reused": report["reused_stages"],
        "rot_mean_deg": round(float(errors.rotation_deg.mean()), 3),
        "rot_max_deg": round(float(errors.rotation_deg.max()), 3),
        "pos_mean": round(float(errors.position.mean()), 4), "pos_max": round(float(errors.position.max()), 4),
        "pos_mean_radius": round(float(errors.position.mean()) / radius, 5),
        "reproj_px": report["mean_reprojection_error_px"], "points": report["num_points"],
    }


if __name__ == "__main__":
    main()
