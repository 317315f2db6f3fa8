"""Render a trained field along a camera path to a video (H.264 .mp4), optionally with a depth video beside it.

    python apps/render.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --output orbit.mp4
    python apps/render.py --checkpoint ... --output path.mp4 --path camera_path.json   # a path saved by the viewer

Radiance fields are volume-rendered on a white background. SDF fields are sphere-traced and shaded by their normals
(colour = 0.5 + 0.5 n), in the field's own normalised coordinates. Orbit and spiral paths circle the occupied part
of the scene box (up axis +Z, as in NeRF-synthetic; --up y for Y-up scenes).
"""
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import tyro

from fields.export import ExportError
from fields.export.camera_path import CameraPath, CameraPathError, framing_radius, load_camera_path, orbit_path
from fields.export.video import VIDEO_FORMATS, check_video_size, depth_to_frame, open_video, to_frame
from fields.export.writers import check_output_path
from fields.render.camera import render_camera
from fields.render.sphere_tracing import render_sdf_camera
from fields.train.checkpointing import load_field
from fields.train.nerf_trainer import resolve_device


@dataclass
class RenderConfig:
    checkpoint: Path
    """A checkpoint written by apps/train_nerf.py or apps/train_sdf.py."""
    output: Path
    """The video file (.mp4, .mov or .mkv)."""
    path: str = "orbit"
    """orbit, spiral, or a camera-path JSON file (as saved by the viewer)."""
    frames: int = 120
    """Frames of an orbit or spiral path (a JSON path has its own)."""
    resolution: Optional[tuple[int, int]] = None
    """Frame width and height, even numbers (default: the JSON path's, else 400 400)."""
    fps: Optional[float] = None
    """Frames per second (default: the JSON path's, else 30)."""
    fov: float = 40.0
    """Vertical field of view of orbit and spiral cameras, degrees."""
    up: Literal["z", "y"] = "z"
    """Up axis of orbit and spiral paths."""
    depth: bool = False
    """Also write <output stem>_depth<suffix>: depth in grey levels (near white, far black)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"


def main(config: RenderConfig) -> int:
    try:
        field, grid, meta = load_field(config.checkpoint, resolve_device(config.device))
        if field.signal not in ("radiance", "sdf"):
            raise ExportError(f"{config.checkpoint} holds a {field.signal} field; render.py renders radiance and "
                              "SDF fields along camera paths (an image field is already an image)")
        output = check_output_path(config.output, VIDEO_FORMATS)
        depth_output = output.with_name(f"{output.stem}_depth{output.suffix}") if config.depth else None
        camera_path = make_camera_path(config, field, grid)
        check_video_size(*camera_path.resolution)
        count = render_video(field, grid, meta, camera_path, output, depth_output)
    except (ExportError, CameraPathError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    width, height = camera_path.resolution
    also = f" and {depth_output}" if depth_output else ""
    print(f"{output}{also}: {count} frames, {width}x{height}, {camera_path.fps:g} fps")
    return 0


def make_camera_path(config: RenderConfig, field, grid) -> CameraPath:
    if config.path in ("orbit", "spiral"):
        if config.frames < 1:
            raise ExportError(f"--frames must be at least 1, got {config.frames}")
        width, height = config.resolution or (400, 400)
        bounds = content_bounds(field, grid)
        up = (0.0, 0.0, 1.0) if config.up == "z" else (0.0, 1.0, 0.0)
        return orbit_path(0.5 * (bounds[:3] + bounds[3:]), framing_radius(bounds, config.fov), config.frames,
                          width, height, config.fov, up=up, fps=config.fps or 30.0, spiral=config.path == "spiral")
    if not config.path.endswith(".json"):
        raise ExportError(f"--path must be orbit, spiral or a .json camera path, got {config.path!r}")
    camera_path = load_camera_path(Path(config.path))
    if config.resolution is not None:
        camera_path = camera_path.resized(*config.resolution)
    if config.fps is not None:
        camera_path.fps = config.fps
    return camera_path


def content_bounds(field, grid) -> np.ndarray:
    """The box of the occupancy grid's occupied cells (finest level) when there is one, else the field's box."""
    box = field.aabb.detach().cpu().double().numpy()
    if grid is None or not bool(grid.binary[0].any()):
        return box
    cells = grid.binary[0].nonzero().cpu().numpy()
    cell_size = (box[3:] - box[:3]) / grid.resolution
    return np.concatenate([box[:3] + cells.min(0) * cell_size, box[:3] + (cells.max(0) + 1) * cell_size])


def render_video(field, grid, meta: dict, camera_path: CameraPath, output: Path, depth_output: Optional[Path]) -> int:
    bounds = content_bounds(field, grid)
    center, half_diagonal = 0.5 * (bounds[:3] + bounds[3:]), 0.5 * np.linalg.norm(bounds[3:] - bounds[:3])
    distances = [np.linalg.norm(camera.c2w[:3, 3].numpy() - center) for camera in camera_path.cameras]
    near, far = max(min(distances) - half_diagonal, 0.0), max(distances) + half_diagonal
    with ExitStack() as stack:
        append_rgb = stack.enter_context(open_video(output, camera_path.fps))
        append_depth = stack.enter_context(open_video(depth_output, camera_path.fps)) if depth_output else None
        for camera in camera_path.cameras:
            if field.signal == "radiance":
                out = render_camera(field, grid, camera, background=1.0, **meta["render"])
            else:
                out = render_sdf_camera(field, camera, background=1.0)
            append_rgb(to_frame(out["rgb"].cpu().numpy()))
            if append_depth is not None:
                depth = (out["depth"] / out["opacity"].clamp_min(1e-6)).cpu().numpy()
                append_depth(depth_to_frame(np.where(out["opacity"].cpu().numpy() > 0.5, depth, 0.0), near, far))
    return len(camera_path.cameras)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main(tyro.cli(RenderConfig, description=__doc__)))
