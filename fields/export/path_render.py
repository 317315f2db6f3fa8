"""Rendering a trained field along a camera path into a video (apps/render.py): orbit and spiral paths around the
occupied part of the scene box, or a camera-path JSON file; radiance fields volume-rendered on white, SDF fields
sphere-traced and shaded by their normals."""
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from fields.export.camera_path import CameraPath, framing_radius, load_camera_path, orbit_path
from fields.export.video import depth_to_frame, open_video, to_frame
from fields.export.writers import ExportError
from fields.render.camera import render_camera
from fields.render.sphere_tracing import render_sdf_camera


def make_camera_path(path: str, field, grid, frames: int, resolution: Optional[tuple[int, int]],
                     fps: Optional[float], fov: float, up_axis: str) -> CameraPath:
    """``path``: "orbit", "spiral" or a .json camera path (``resolution`` and ``fps`` then override its own)."""
    if path in ("orbit", "spiral"):
        if frames < 1:
            raise ExportError(f"--frames must be at least 1, got {frames}")
        width, height = resolution or (400, 400)
        bounds = content_bounds(field, grid)
        up = (0.0, 0.0, 1.0) if up_axis == "z" else (0.0, 1.0, 0.0)
        return orbit_path(0.5 * (bounds[:3] + bounds[3:]), framing_radius(bounds, fov), frames, width, height, fov,
                          up=up, fps=fps or 30.0, spiral=path == "spiral")
    if not path.endswith(".json"):
        raise ExportError(f"--path must be orbit, spiral or a .json camera path, got {path!r}")
    camera_path = load_camera_path(Path(path))
    if resolution is not None:
        camera_path = camera_path.resized(*resolution)
    if fps is not None:
        camera_path.fps = fps
    return camera_path


def content_bounds(field, grid) -> np.ndarray:
    """The box of the occupancy grid's occupied cells (finest level) when there is one, else the field's box."""
    box = field.aabb.detach().cpu().double().numpy()
    if grid is None or not bool(grid.binary[0].any()):
        return box
    cells = grid.binary[0].nonzero().cpu().numpy()
    cell_size = (box[3:] - box[:3]) / grid.resolution
    return np.concatenate([box[:3] + cells.min(0) * cell_size, box[:3] + (cells.max(0) + 1) * cell_size])


def render_video(field, grid, render_options: dict, camera_path: CameraPath, output: Path,
                 depth_output: Optional[Path] = None, progress: bool = True) -> int:
    """Writes the frames (and a grey-level depth video when ``depth_output`` is given); returns the frame count."""
    bounds = content_bounds(field, grid)
    center, half_diagonal = 0.5 * (bounds[:3] + bounds[3:]), 0.5 * np.linalg.norm(bounds[3:] - bounds[:3])
    distances = [np.linalg.norm(camera.c2w[:3, 3].numpy() - center) for camera in camera_path.cameras]
    near, far = max(min(distances) - half_diagonal, 0.0), max(distances) + half_diagonal
    with ExitStack() as stack:
        append_rgb = stack.enter_context(open_video(output, camera_path.fps))
        append_depth = stack.enter_context(open_video(depth_output, camera_path.fps)) if depth_output else None
        for camera in tqdm(camera_path.cameras, disable=not progress, unit="frame", desc="rendering"):
            if field.signal == "radiance":
                out = render_camera(field, grid, camera, background=1.0, **render_options)
            else:
                out = render_sdf_camera(field, camera, background=1.0)
            append_rgb(to_frame(out["rgb"].cpu().numpy()))
            if append_depth is not None:
                depth = (out["depth"] / out["opacity"].clamp_min(1e-6)).cpu().numpy()
                append_depth(depth_to_frame(np.where(out["opacity"].cpu().numpy() > 0.5, depth, 0.0), near, far))
    return len(camera_path.cameras)
