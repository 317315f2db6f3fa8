"""Render a trained field along a camera path to a video (H.264 .mp4), optionally with a depth video beside it.

    python apps/render.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --output orbit.mp4
    python apps/render.py --checkpoint ... --output path.mp4 --path camera_path.json   # a path saved by the viewer

Radiance fields are volume-rendered on a white background. SDF fields are sphere-traced and shaded by their normals
(colour = 0.5 + 0.5 n), in the field's own normalised coordinates. Orbit and spiral paths circle the occupied part
of the scene box (up axis +Z, as in NeRF-synthetic; --up y for Y-up scenes).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from fields.export import ExportError
from fields.export.path_render import make_camera_path, render_video
from fields.export.video import VIDEO_FORMATS, check_video_size
from fields.export.writers import check_output_path
from fields.run import load_field, resolve_device, run_app, user_errors


@dataclass
class RenderConfig:
    checkpoint: Path
    """A checkpoint written by apps/train_nerf.py or apps/train_sdf.py, or its run folder."""
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


@torch.no_grad()  # rendering only
def main(config: RenderConfig) -> int:
    with user_errors(ExportError, ValueError, FileNotFoundError):  # CameraPathError is a ValueError
        field, grid, meta = load_field(config.checkpoint, resolve_device(config.device))
        if field.signal not in ("radiance", "sdf"):
            raise ExportError(f"{config.checkpoint} holds a {field.signal} field; render.py renders radiance and "
                              "SDF fields along camera paths (an image field is already an image)")
        output = check_output_path(config.output, VIDEO_FORMATS)
        depth_output = output.with_name(f"{output.stem}_depth{output.suffix}") if config.depth else None
        camera_path = make_camera_path(config.path, field, grid, config.frames, config.resolution, config.fps,
                                       config.fov, config.up)
        check_video_size(*camera_path.resolution)
        count = render_video(field, grid, meta.get("render") or {}, camera_path, output, depth_output)
    width, height = camera_path.resolution
    also = f" and {depth_output}" if depth_output else ""
    print(f"{output}{also}: {count} frames, {width}x{height}, {camera_path.fps:g} fps")
    return 0


if __name__ == "__main__":
    run_app(main, RenderConfig, __doc__)
