"""Camera paths: the JSON file the viewer saves and render.py reads, and generated orbit / spiral paths.

File format (camera-to-world matrices with OpenGL axes, as in transforms.json)::

    {"resolution": [W, H], "fps": 30,
     "frames": [{"camera_to_world": [[...4 numbers...] x 4], "fov_y_degrees": 50.0}, ...]}
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from fields.datasets.procedural import look_at
from fields.render.camera import PinholeCamera
from fields.run.folder import write_json


class CameraPathError(ValueError):
    """A camera-path file that cannot be read; the message names the file and the problem."""


@dataclass
class CameraPath:
    cameras: list[PinholeCamera]
    fps: float = 30.0

    @property
    def resolution(self) -> tuple[int, int]:
        return (self.cameras[0].width, self.cameras[0].height) if self.cameras else (0, 0)

    def resized(self, width: int, height: int) -> "CameraPath":
        """The same path at another resolution, keeping each camera's vertical field of view (square pixels)."""
        cameras = [PinholeCamera.from_fov(camera.c2w, width, height, camera.fov_y_degrees) for camera in self.cameras]
        return CameraPath(cameras, self.fps)

    def to_json(self) -> dict:
        width, height = self.resolution
        frames = [{"camera_to_world": camera.c2w.tolist(), "fov_y_degrees": camera.fov_y_degrees}
                  for camera in self.cameras]
        return {"resolution": [width, height], "fps": self.fps, "frames": frames}


def save_camera_path(path: Path, camera_path: CameraPath) -> Path:
    """Writes the file atomically (a reader never sees half of one); the viewer saves its keyframes through here."""
    write_json(Path(path), camera_path.to_json())
    return Path(path)


def load_camera_path(path: Path) -> CameraPath:
    """Reads a camera-path JSON file; raises :class:`CameraPathError` saying what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CameraPathError(f"camera path {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CameraPathError(f"camera path {path} is not valid JSON: {error}") from None
    try:
        width, height = (int(v) for v in data["resolution"])
        fps = float(data.get("fps", 30.0))
        cameras = []
        for index, frame in enumerate(data["frames"]):
            c2w = np.asarray(frame["camera_to_world"], dtype=np.float64)
            if c2w.shape != (4, 4) or not np.isfinite(c2w).all():
                raise CameraPathError(f"camera path {path}: frame {index} camera_to_world must be a finite 4x4 "
                                      f"nested list, got shape {list(c2w.shape)}")
            cameras.append(PinholeCamera.from_fov(c2w, width, height, float(frame["fov_y_degrees"])))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CameraPathError):
            raise
        raise CameraPathError(f"camera path {path} lacks or mistypes {error}; expected "
                              '{"resolution": [W, H], "fps": 30, "frames": [{"camera_to_world": 4x4, '
                              '"fov_y_degrees": float}, ...]}') from None
    if width < 1 or height < 1 or not cameras:
        raise CameraPathError(f"camera path {path} needs a positive resolution and at least one frame")
    return CameraPath(cameras, fps)


def orbit_path(center: Sequence[float], radius: float, frames: int, width: int, height: int,
               fov_y_degrees: float = 40.0, elevation_degrees: float = 25.0, up: Sequence[float] = (0, 0, 1),
               fps: float = 30.0, spiral: bool = False) -> CameraPath:
    """``frames`` cameras on one turn around ``center`` at ``radius``, looking at it. ``spiral`` also swings the
    elevation between -0.5 and 1.5 times ``elevation_degrees`` and the radius by ±15 % (one period per turn)."""
    center, up = np.asarray(center, dtype=np.float64), np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    side = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    other = np.cross(up, side)
    cameras = []
    for index in range(frames):
        phase = 2.0 * math.pi * index / frames
        elevation, distance = math.radians(elevation_degrees), radius
        if spiral:
            elevation *= 0.5 + math.sin(phase)
            distance *= 1.0 + 0.15 * math.cos(phase)
        direction = math.cos(elevation) * (math.cos(phase) * side + math.sin(phase) * other) + math.sin(elevation) * up
        c2w = look_at(center + distance * direction, center, up)
        cameras.append(PinholeCamera.from_fov(torch.from_numpy(c2w).float(), width, height, fov_y_degrees))
    return CameraPath(cameras, fps)


def framing_radius(bounds: Sequence[float], fov_y_degrees: float, margin: float = 1.1) -> float:
    """Distance from the box centre at which the box's bounding sphere fits the vertical field of view."""
    bounds = np.asarray(bounds, dtype=np.float64)
    half_diagonal = 0.5 * float(np.linalg.norm(bounds[3:] - bounds[:3]))
    return margin * half_diagonal / math.sin(0.5 * math.radians(fov_y_degrees))
