"""Renders of the textured procedural scene from known cameras, as a user's photographs or video would be."""
import math
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageFilter

from fields.datasets.procedural import CAMERA_ANGLE_X, CAMERA_RADIUS, look_at, render_view

SIZE = 200
SCENE_SIZE = 2.2  # the objects lie in [-1.1, 1.1]^3


def ring_poses(count: int, elevation_deg: float, step_deg: float, start_deg: float = 0.0) -> list[np.ndarray]:
    """Cameras at the procedural radius looking at the origin, ``step_deg`` apart in azimuth."""
    elevation = math.radians(elevation_deg)
    poses = []
    for i in range(count):
        azimuth = math.radians(start_deg + i * step_deg)
        direction = np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                              math.sin(elevation)])
        poses.append(look_at(CAMERA_RADIUS * direction))
    return poses


def capture_poses() -> list[np.ndarray]:
    """24 views: two rings of 12 (30 degrees apart) at elevations 20 and 45 degrees."""
    return ring_poses(12, 20.0, 30.0) + ring_poses(12, 45.0, 30.0, start_deg=17.0)


def render(pose: np.ndarray, size: int = SIZE) -> Image.Image:
    """The textured scene seen from ``pose``, composited on white, as an RGB photograph."""
    focal = 0.5 * size / math.tan(0.5 * CAMERA_ANGLE_X)
    intrinsics = torch.tensor([focal, focal, 0.5 * size, 0.5 * size])
    rgba = render_view(torch.from_numpy(pose).float(), intrinsics, size, size, supersample=2, textured=True).numpy()
    rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    return Image.fromarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))


def write_photos(folder: Path, poses: list[np.ndarray], prefix: str = "view") -> dict[str, np.ndarray]:
    """One PNG per pose; returns file name -> true camera-to-world."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for index, pose in enumerate(poses):
        name = f"{prefix}_{index:03d}.png"
        render(pose).save(folder / name)
        truth[name] = pose
    return truth


def write_video(path: Path, frames: list[Image.Image], fps: int = 10) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        stream.options = {"crf": "12"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())


def blurred(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(3))
