"""Viewer speed on a trained lego field: frames per second at fixed sizes (render + JPEG encode, as a moving
frame costs) along both render paths, the field itself (resting frames; moving ones with the fast preview off)
and the baked preview (moving frames), the time to bake the preview, the moving-frame size the resolution control
picks for 10 fps, and the latency from a browser connecting to its first frame (and to its first full-resolution
frame).

    python -m bench.viewer [--checkpoint RUN_OR_FILE] [--sizes 256 512] [--frames 4] [--preview-frames 20]
                           [--preview-resolution 128] [--device cpu|cuda]

Without --checkpoint it takes the newest outputs/lego/hash/*/checkpoints/latest.safetensors; train one with
`python apps/train_nerf.py --scene lego --max-time 120`.
Cameras: the scene's training views, one after another (each frame a new view, as while moving).
"""
import argparse
import io
import math
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.timing import print_results
from fields.render.camera import PinholeCamera
from fields.viewer import Viewer
from fields.viewer.loading import load_viewer_input
from bench.viewer_client import ViserProtocolClient
from fields.viewer.preview_bake import training_view_directions
from fields.viewer.render_loop import ResolutionControl
from fields.viewer.renderers import make_renderer

SEARCH = [Path("outputs/lego/hash")]


def newest_lego_checkpoint() -> Path:
    found = [p for root in SEARCH for p in root.glob("*/checkpoints/latest.safetensors")]
    if not found:
        raise SystemExit("no trained lego checkpoint under outputs/lego/hash/; train one first: python "
                         "apps/train_nerf.py --scene lego --max-time 120, or pass --checkpoint RUN")
    return max(found, key=lambda p: p.stat().st_mtime)


def jpeg_bytes(image, quality: int = 40) -> int:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.tell()


def fps_at(renderer, path: str, cameras, size: int, frames: int, fov_y: float) -> dict:
    renderer.render(PinholeCamera.from_fov(cameras.c2w[0], 32, 32, fov_y), path=path)  # warm-up
    times = []
    for index in range(frames):
        camera = PinholeCamera.from_fov(cameras.c2w[(7 * index + 1) % cameras.num_images], size, size, fov_y)
        start = time.perf_counter()
        jpeg_bytes(renderer.render(camera, "rgb", path=path))
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    return {"path": path, "size": f"{size}x{size}", "frames": frames, "s_per_frame": mean, "fps": 1.0 / mean,
            "rays_per_s": size * size / mean}


def preview_psnr(renderer, camera: PinholeCamera) -> float:
    """PSNR (dB) of the preview's frame against the field's for the same view: what the speed costs."""
    field, preview = (renderer.render(camera, "rgb", path=path).astype(np.float64) / 255.0
                      for path in ("field", "preview"))
    return float(-10.0 * np.log10(max(np.mean((field - preview) ** 2), 1e-12)))


def connect_latency(loaded, cameras, fov_y: float, max_resolution: int, preview_resolution: int) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    viewer = Viewer(loaded.field, loaded.grid, render_options=loaded.meta.get("render"), cameras=cameras, port=port,
                    max_resolution=max_resolution, output_dir=Path(tempfile.mkdtemp(prefix="bench_viewer")),
                    preview_resolution=preview_resolution, verbose=False)
    startup = time.perf_counter() - start
    client = ViserProtocolClient(port)
    try:
        connected = time.perf_counter()
        client.send_camera(cameras.c2w[3].numpy(), fov_y=math.radians(fov_y), width=1200, height=800)
        deadline = connected + 300
        while not any(fmt == "png" for fmt, _ in client.frames) and time.perf_counter() < deadline:
            time.sleep(0.01)
        first = client.frame_times[0] - connected if client.frame_times else math.nan
        full = next((t for (fmt, _), t in zip(client.frames, client.frame_times) if fmt == "png"), math.nan)
        first_size = client.frames[0][1].shape[:2] if client.frames else None
    finally:
        client.close()
        viewer.close()
    return {"viewer_startup_s": startup, "first_frame_s": first,
            "first_frame_size": f"{first_size[1]}x{first_size[0]}" if first_size else None,
            f"full_{max_resolution}_frame_s": full - connected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--frames", type=int, default=4, help="frames of the field at 256 px (fewer at larger sizes)")
    parser.add_argument("--preview-frames", type=int, default=20, help="frames of the preview at 256 px")
    parser.add_argument("--preview-resolution", type=int, default=128, help="vertices per axis of the bake")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    checkpoint = args.checkpoint or newest_lego_checkpoint()
    loaded = load_viewer_input(checkpoint, args.device)
    cameras = loaded.cameras
    if cameras is None:
        raise SystemExit(f"the scene of {checkpoint} was not found; the benchmark uses its training cameras")
    fov_y = math.degrees(2 * math.atan(0.5 * cameras.height / float(cameras.intrinsics[0, 1])))
    renderer = make_renderer(loaded.field, loaded.grid, loaded.meta.get("render"),
                             preview_resolution=args.preview_resolution,
                             preview_directions=training_view_directions(cameras.c2w))
    renderer.render(PinholeCamera.from_fov(cameras.c2w[0], 8, 8, fov_y))  # one-time set-up, not the bake's cost
    renderer.prepare(moving=True)  # bakes the preview, as the viewer does once on loading a checkpoint
    bake = renderer.preview
    rows, moving_sizes = [], {}
    for path, frames in (("field", args.frames), ("preview", args.preview_frames)):
        # Larger frames get proportionally fewer repeats (at least one): the same number of rays per size.
        path_rows = [fps_at(renderer, path, cameras, size, max(1, round(frames * (256 / size) ** 2)), fov_y)
                     for size in args.sizes]
        best_rays = max(r["rays_per_s"] for r in path_rows)
        moving = ResolutionControl(target_fps=10.0, rays_per_second=best_rays).moving_size(1.0, 2048)
        moving_sizes[f"moving_size_for_10fps_{path}"] = f"{moving[0]}x{moving[1]}"
        rows += path_rows
    latency = connect_latency(loaded, cameras, fov_y, max_resolution=512, preview_resolution=args.preview_resolution)
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print_results(f"viewer frame rate, lego hash field {checkpoint} (step {loaded.meta.get('step')}; {device}; "
                  f"render + JPEG 40 per frame; path 'field' = the field itself, 'preview' = its "
                  f"{bake.resolution}^3 bake)", rows, ["path", "size", "frames", "s_per_frame", "fps", "rays_per_s"])
    view = PinholeCamera.from_fov(cameras.c2w[2], min(args.sizes), min(args.sizes), fov_y)
    bake_row = {"bake_resolution": bake.resolution, "bake_s": bake.seconds,
                "evaluated_fraction": bake.evaluated / bake.resolution ** 3,
                f"preview_psnr_db_{view.width}px": preview_psnr(renderer, view), **moving_sizes}
    print_results("preview bake (once per checkpoint; re-baked at most every few seconds while training) and the "
                  "moving frame the resolution control picks for 10 fps", [bake_row], list(bake_row))
    print_results("viewer latency (browser stand-in over viser's websocket, 1200x800 canvas; startup: from the "
                  "loaded checkpoint to a serving viewer, incl. its warm-up renders and the preview bake)",
                  [latency], list(latency))
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
