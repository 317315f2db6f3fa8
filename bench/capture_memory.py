"""Peak memory of loading and training on a large real-capture-like scene (1000 photos of 1920x1080 by default).

    python -m bench.capture_memory [--num-images 1000] [--steps 20] [--downscales 1 default] [--keep DIR]

Writes an instant-ngp capture (transforms.json + JPEGs: the procedural scene rendered small and upscaled, so the
files are quick to write and to decode) to a temporary folder, then measures, each in a fresh process:

- ``load``: loading the train and val splits with ``fields.datasets.load_scene``, building the training
  ``RaySampler`` and drawing batches: what the datasets side holds, and the sampler's time per 4096-ray batch;
- ``train``: ``apps/train_nerf.py --scene DIR --max-steps N --downscale K`` (no validation, no final evaluation):
  the whole training process.

With ``--cache``, the loading is also measured with the images memory-mapped from a disk cache
(``load_scene(..., cache_dir=...)``; the first load writes the cache, the measured one maps it). Peak RSS is the
child's own maximum resident set (``os.wait4``); it counts the mapped file pages a process has touched, which the
system can drop again at will, so the peak of its resident anonymous memory (``RssAnon``, sampled every 0.1 s: what
cannot be dropped) is given beside it. ``default`` is the factor
``fields.datasets.default_downscale`` picks on the CPU. The images' decoded size (count x H x W x 4) is printed beside
it. The capture is removed afterwards unless ``--keep`` names a folder to write it to (and reuse it from).

``--compare-samplers`` instead times the training sampler side by side in one process (uint8 images in memory and
mapped from the cache, and the colour gather from uint8 against a float32 copy of every pixel).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.timing import best_time, print_results
from fields.datasets.capture_memory import decoded_bytes, default_downscale
from fields.datasets.procedural import CAMERA_ANGLE_X, CAMERA_RADIUS, look_at, render_view
from fields.train.config import TrainNerfConfig

REPO = Path(__file__).resolve().parents[1]
RENDER_SHRINK = 20  # the procedural scene is rendered at 1/20 of the capture's size, then upscaled
TRAINER_HAS_IMAGE_CACHE = "image_cache" in TrainNerfConfig.__dataclass_fields__


def write_capture(folder: Path, count: int, width: int, height: int, quality: int = 90) -> Path:
    """An instant-ngp capture of ``count`` JPEGs of ``width`` x ``height`` seen from a hemisphere around the
    procedural scene; returns ``folder``. Reuses a capture already there with the same count and size."""
    transforms = folder / "transforms.json"
    if transforms.is_file():
        content = json.loads(transforms.read_text())
        if (len(content["frames"]), content["w"], content["h"]) == (count, width, height):
            return folder
    (folder / "images").mkdir(parents=True, exist_ok=True)
    small = (max(width // RENDER_SHRINK, 8), max(height // RENDER_SHRINK, 8))
    focal = 0.5 * width / math.tan(0.5 * CAMERA_ANGLE_X)
    small_focal = focal * small[0] / width
    small_intrinsics = torch.tensor([small_focal, small_focal, 0.5 * small[0], 0.5 * small[1]])
    poses = [_camera(i, count) for i in range(count)]
    rng = np.random.default_rng(0)
    noise = [rng.integers(-6, 7, (height, width, 3), dtype=np.int16) for _ in range(4)]  # sensor-like grain

    def write(index: int) -> dict:
        rgba = render_view(torch.from_numpy(poses[index]).float(), small_intrinsics, *small, supersample=1)
        rgb = rgba[..., :3] * rgba[..., 3:] + 0.6 * (1.0 - rgba[..., 3:])  # on a grey backdrop
        image = Image.fromarray((rgb.numpy() * 255.0 + 0.5).astype(np.uint8)).resize((width, height), Image.BILINEAR)
        pixels = np.clip(np.asarray(image, dtype=np.int16) + noise[index % len(noise)], 0, 255).astype(np.uint8)
        name = f"images/frame_{index:05d}.jpg"
        Image.fromarray(pixels).save(folder / name, quality=quality)
        return {"file_path": name, "transform_matrix": poses[index].tolist()}

    with ThreadPoolExecutor(max_workers=2) as pool:  # JPEG encoding releases the GIL
        frames = list(pool.map(write, range(count)))
    transforms.write_text(json.dumps({"fl_x": focal, "fl_y": focal, "cx": 0.5 * width, "cy": 0.5 * height,
                                      "w": width, "h": height, "aabb_scale": 1, "frames": frames}))
    return folder


def _camera(index: int, count: int) -> np.ndarray:
    """Camera ``index`` of ``count`` on a Fibonacci spiral over the upper hemisphere, looking at the origin."""
    low, high = math.sin(math.radians(8.0)), math.sin(math.radians(75.0))  # elevations 8..75 degrees
    z = low + (high - low) * (index + 0.5) / count
    azimuth = math.pi * (3.0 - math.sqrt(5.0)) * index
    ring = math.sqrt(1.0 - z * z)
    return look_at(CAMERA_RADIUS * np.array([ring * math.cos(azimuth), ring * math.sin(azimuth), z]))


def run_child(command: list[str]) -> dict:
    """Runs ``command``; returns its peak RSS and peak resident anonymous memory (bytes), wall seconds and the
    JSON of its last output line, if any."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    anon_peak = [0]
    watcher = threading.Thread(target=_watch_anonymous_memory, args=(child.pid, anon_peak), daemon=True)
    watcher.start()
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    watcher.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}):\n{output[-3000:]}")
    last = output.strip().splitlines()[-1] if output.strip() else ""
    report = json.loads(last) if last.startswith("{") else {}
    # Linux counts ru_maxrss in kB
    return {"peak_rss_bytes": usage.ru_maxrss * 1024, "peak_anon_bytes": anon_peak[0], "seconds": seconds, **report}


def _watch_anonymous_memory(pid: int, peak: list[int], interval: float = 0.1) -> None:
    """Keeps in ``peak[0]`` the largest ``RssAnon`` of process ``pid`` seen every ``interval`` s until it exits
    (Linux only; 0 elsewhere). Resident anonymous memory cannot be dropped by the system, unlike mapped file pages."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        line = next((line for line in text.splitlines() if line.startswith("RssAnon:")), None)
        if line is None:  # a zombie: the process has exited
            return
        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        time.sleep(interval)


def measure_loading(scene: str, downscale: int, cache_dir: str | None, batches: int = 50, batch_size: int = 4096
                    ) -> None:
    """The ``load`` child: loads both splits, builds the sampler, draws batches; prints one JSON line."""
    from fields.datasets import RaySampler, load_scene

    start = time.perf_counter()
    train = load_scene(scene, "train", downscale=downscale, cache_dir=cache_dir)
    val = load_scene(scene, "val", downscale=downscale, cache_dir=cache_dir)
    load_seconds = time.perf_counter() - start
    sampler = RaySampler(train)
    sampler.sample(batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        sampler.sample(batch_size)
    batch_ms = (time.perf_counter() - start) / batches * 1e3
    print(json.dumps({"load_seconds": load_seconds, "batch_ms": batch_ms,
                      "images_bytes": train.images.numel() + val.images.numel()}))


def compare_samplers(scene: str, downscale: int, batch_size: int = 4096, rounds: int = 3) -> list[dict]:
    """Side by side in this process: a RaySampler batch over the uint8 images in memory and mapped from a disk
    cache, and the colour gather alone from uint8 (converted per batch) and from a float32 copy of every pixel."""
    from fields.datasets import RaySampler, load_scene

    with tempfile.TemporaryDirectory() as cache_dir:
        in_memory = load_scene(scene, "train", downscale=downscale)
        mapped = load_scene(scene, "train", downscale=downscale, cache_dir=cache_dir)
        samplers = RaySampler(in_memory), RaySampler(mapped)
        uint8_pixels = in_memory.images.reshape(-1, 4)
        float_pixels = uint8_pixels.float() / 255.0
        index = torch.randint(uint8_pixels.shape[0], (batch_size,))
        cases = {"batch_uint8_memory_ms": lambda: samplers[0].sample(batch_size),
                 "batch_uint8_cache_ms": lambda: samplers[1].sample(batch_size),
                 "colours_uint8_ms": lambda: uint8_pixels[index].float() / 255.0,
                 "colours_float32_ms": lambda: float_pixels[index]}
        return [{"round": r, **{name: best_time(fn, repeats=30) * 1e3 for name, fn in cases.items()}}
                for r in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--steps", type=int, default=20, help="training steps of the train measurement")
    parser.add_argument("--downscales", nargs="+", default=["1", "default"],
                        help="factors to measure; 'default' is default_downscale's factor on the CPU")
    parser.add_argument("--skip-train", action="store_true", help="measure loading only")
    parser.add_argument("--cache", action="store_true", help="also measure loading from a disk cache")
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the capture here and keep it")
    parser.add_argument("--compare-samplers", action="store_true",
                        help="only time the sampler side by side (in memory, disk cache, float32 colours) at the "
                             "first of --downscales")
    parser.add_argument("--measure-loading", nargs=3, metavar=("SCENE", "DOWNSCALE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_loading:
        scene, factor, cache_dir = args.measure_loading
        measure_loading(scene, int(factor), cache_dir or None)
        return

    workdir = Path(tempfile.mkdtemp(prefix="capture_memory_"))
    capture = args.keep or workdir / "capture"
    try:
        start = time.perf_counter()
        write_capture(capture, args.num_images, args.width, args.height)
        print(f"capture: {args.num_images} JPEGs of {args.width}x{args.height} in {capture} "
              f"({time.perf_counter() - start:.0f} s to write or find)", flush=True)
        if args.compare_samplers:
            name = args.downscales[0]
            factor = default_downscale(args.width, args.height, "cpu") if name == "default" else int(name)
            print_results(f"sampler, {args.num_images} images of {args.width}x{args.height} at downscale {factor}, "
                          "4096 rays, best of 30", compare_samplers(str(capture), factor),
                          ["round", "batch_uint8_memory_ms", "batch_uint8_cache_ms", "colours_uint8_ms",
                           "colours_float32_ms"])
            return
        rows = []
        cases = [(name, "") for name in args.downscales]
        cases += [(name, str(workdir / "cache")) for name in args.downscales] if args.cache else []
        for name, cache_dir in cases:
            factor = default_downscale(args.width, args.height, "cpu") if name == "default" else int(name)
            label = f"{factor}" + (" (default)" if name == "default" else "") + (" cached" if cache_dir else "")
            row = {"downscale": label,
                   "images_gb": decoded_bytes(args.num_images, args.width, args.height, factor) / 1e9}
            load_command = [sys.executable, "-m", "bench.capture_memory", "--measure-loading", str(capture),
                            str(factor), cache_dir]
            if cache_dir:
                run_child(load_command)  # writes the cache
            load = run_child(load_command)
            row |= {"load_peak_gb": load["peak_rss_bytes"] / 1e9, "load_anon_gb": load["peak_anon_bytes"] / 1e9,
                    "load_s": load["load_seconds"], "batch_ms": load["batch_ms"]}
            if cache_dir and not TRAINER_HAS_IMAGE_CACHE:
                print("note: apps/train_nerf.py has no --image-cache option: training from the cache not measured")
            elif not args.skip_train:
                run = workdir / f"run_{len(rows)}"
                train = run_child([sys.executable, "apps/train_nerf.py", "--scene", str(capture), "--max-steps",
                                   str(args.steps), "--downscale", str(factor), "--output", str(run),
                                   "--val-views", "0", "--eval-every", "0", "--no-progress", "--device", "cpu"]
                                  + (["--image-cache", cache_dir] if cache_dir else []))
                row |= {"train_peak_gb": train["peak_rss_bytes"] / 1e9, "train_anon_gb": train["peak_anon_bytes"] / 1e9,
                        "train_s": train["seconds"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
        print_results(f"capture memory: {args.num_images} images of {args.width}x{args.height}, "
                      f"{args.steps} training steps on the CPU", rows,
                      ["downscale", "images_gb", "load_peak_gb", "load_anon_gb", "load_s", "batch_ms", "train_peak_gb",
                       "train_anon_gb", "train_s"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
