"""Choosing frames from a video: about ``num_frames`` frames spread evenly over it, each the sharpest of its stretch.

The video is decoded twice with PyAV: the first pass scores every frame (variance of the Laplacian on a small grey
copy) and so learns the frame count even where the container does not state it; the frames are then cut into
``num_frames`` equal stretches and the sharpest frame of each is kept; the second pass writes the kept frames as
JPEG (quality 95) named ``frame_00001.jpg`` ... in time order, so sequential matching pairs neighbours in time.
Frames are turned upright when the stream carries a rotation (phone videos).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from fields.capture.errors import CaptureError
from fields.capture.sharpness import MEASURE_SIZE, sharpness
from fields.export.writers import atomic_output

JPEG_QUALITY = 95


@dataclass(frozen=True)
class VideoFrame:
    name: str  # file name inside images/
    frame_index: int  # position in the decoded stream
    time: float  # seconds from the start
    sharpness: float


def score_frames(video: Path, progress=None) -> list[tuple[float, float]]:
    """(time in seconds, sharpness) of every frame of the first video stream."""
    scores = []
    with _open(video) as container:
        stream = container.streams.video[0]
        if progress is not None and stream.frames:
            progress.total = stream.frames
        try:
            for frame in container.decode(stream):
                scale = MEASURE_SIZE / max(frame.width, frame.height)
                small = frame.reformat(width=max(1, round(frame.width * min(scale, 1.0))),
                                       height=max(1, round(frame.height * min(scale, 1.0))), format="gray")
                scores.append((float(frame.time or 0.0), sharpness(Image.fromarray(small.to_ndarray()))))
                if progress is not None:
                    progress.update(1)
        except av.FFmpegError as error:
            if not scores:
                raise CaptureError(f"cannot decode video {video}: {error}. Re-encode it (e.g. ffmpeg -i IN -c:v "
                                   "libx264 OUT.mp4) or extract its frames and pass --images") from None
            # a damaged tail: keep the frames before it
    if not scores:
        raise CaptureError(f"video {video} has no decodable frames; check the file or pass --images")
    return scores


def pick_sharpest(scores: list[float], count: int) -> list[int]:
    """Indices of the sharpest frame in each of ``count`` equal stretches of the video (all frames if fewer)."""
    total = len(scores)
    if total <= count:
        return list(range(total))
    edges = np.linspace(0, total, count + 1).round().astype(int)
    return [int(start + np.argmax(scores[start:end])) for start, end in zip(edges[:-1], edges[1:])]


def write_frames(video: Path, chosen: list[int], scores: list[tuple[float, float]], images_dir: Path,
                 progress=None) -> list[VideoFrame]:
    """Decode ``video`` again and write the frames at indices ``chosen`` into ``images_dir``."""
    images_dir.mkdir(parents=True, exist_ok=True)
    wanted = {index: number for number, index in enumerate(sorted(chosen), start=1)}
    frames = []
    with _open(video) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                name = f"frame_{wanted[index]:05d}.jpg"
                with atomic_output(images_dir / name) as temporary:
                    _upright(frame).save(temporary, format="JPEG", quality=JPEG_QUALITY)
                time, score = scores[index]
                frames.append(VideoFrame(name, index, time, score))
                if progress is not None:
                    progress.update(1)
            if len(frames) == len(wanted):
                break
    return frames


def _open(video: Path):
    if not video.is_file():
        raise CaptureError(f"--video {video} does not exist; pass a video file (e.g. .mp4, .mov)")
    try:
        container = av.open(str(video))
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise CaptureError(f"cannot open video {video}: {error}. Is it a video file? Re-encode it (e.g. ffmpeg -i "
                           "IN -c:v libx264 OUT.mp4) or extract its frames and pass --images") from None
    if not container.streams.video:
        container.close()
        raise CaptureError(f"{video} has no video stream; pass a video file or --images")
    container.streams.video[0].thread_type = "AUTO"
    return container


def _upright(frame) -> Image.Image:
    image = frame.to_image()
    rotation = getattr(frame, "rotation", 0) or 0
    return image.rotate(rotation, expand=True) if rotation % 360 else image
