"""The options of capture processing (``apps/process_data.py`` turns them into flags)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional


@dataclass
class CaptureOptions:
    output: Path
    """The scene folder to write (created; a rerun on the same folder reuses finished stages)."""
    images: Optional[Path] = None
    """A folder of photographs (JPEG/PNG; HEIC with pillow-heif). Give this or --video."""
    video: Optional[Path] = None
    """A video file (anything FFmpeg decodes). Give this or --images."""
    num_frames: int = 150
    """Video: about this many frames are kept, spread evenly, each the sharpest of its stretch."""
    matching: Literal["auto", "exhaustive", "sequential", "vocab-tree"] = "auto"
    """auto: sequential for video, exhaustive up to 300 images."""
    vocab_tree: Optional[Path] = None
    """A COLMAP vocabulary tree file, for --matching vocab-tree (never downloaded)."""
    mapper: Literal["incremental", "global"] = "incremental"
    """incremental: COLMAP's mapper; global: GLOMAP (often faster on large sets)."""
    camera_model: Literal["OPENCV", "SIMPLE_RADIAL", "PINHOLE", "OPENCV_FISHEYE"] = "OPENCV"
    per_image_camera: bool = False
    """One camera per image instead of one shared by all (zoom changes, mixed cameras of one resolution)."""
    max_image_size: int = 1600
    """Images are shrunk to at most this many pixels on the longer side for feature extraction."""
    holdout: Optional[str] = None
    """A file-name pattern (fnmatch, e.g. 'val_*'): matching images form the val/test split instead of every 8th."""
    verbose: bool = False
    """Show COLMAP's own log lines."""
