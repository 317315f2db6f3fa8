"""Writing rendered frames to a video with imageio-ffmpeg (H.264, yuv420p: plays everywhere), and turning depth maps
into viewable frames."""
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from fields.export.writers import ExportError, atomic_output

VIDEO_FORMATS = (".mp4", ".mov", ".mkv")


def check_video_size(width: int, height: int) -> None:
    """yuv420p halves the colour resolution, so H.264 needs even frame sizes; refuse odd ones before rendering."""
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ExportError(f"video frames must have even width and height (H.264, yuv420p), got {width} x {height}; "
                          "pass --resolution with even numbers")


@contextmanager
def open_video(path: Path, fps: float) -> Iterator[Callable[[np.ndarray], None]]:
    """Yields a function that appends one uint8 [H, W, 3] frame (frames are encoded as they come, nothing is kept in
    memory). The file appears at ``path`` only once the block completes without error."""
    import imageio.v2 as imageio

    with atomic_output(Path(path)) as temporary:
        writer = imageio.get_writer(temporary, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                    pixelformat="yuv420p", macro_block_size=1)
        try:
            yield writer.append_data
        finally:
            writer.close()


def to_frame(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] of a float image in [0, 1]."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def depth_to_frame(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """uint8 [H, W, 3] grey levels of a depth map: white at ``near``, black at ``far`` and where nothing was hit
    (depth 0 or inf)."""
    valid = np.isfinite(depth) & (depth > 0)
    level = np.where(valid, 1.0 - (depth - near) / max(far - near, 1e-9), 0.0)
    return to_frame(np.repeat(level[..., None], 3, axis=2))
