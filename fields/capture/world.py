"""The world frame a processed capture is written in, chosen from the SfM cameras and points.

COLMAP's frame is arbitrary (the first image pair's, at an arbitrary scale). The rule here, applied as one
similarity x_world = s · R · (x_colmap - c):

- **Up** is the mean of the cameras' up vectors (people hold cameras upright, or orbit level); R turns it to +Z.
- **Origin** c is a robust centre of what the cameras look at: the point nearest to all optical axes, by iteratively
  reweighted least squares (weights 1 / distance to each axis, which approximates the geometric median and lets a
  few stray views not drag it off). When the axes are nearly parallel (a forward-facing capture, no point they all
  approach) it falls back to the median of the SfM points.
- **Scale** s puts the median camera distance from the origin at ``CAMERA_RADIUS`` (4, as in NeRF-synthetic).
- **Scene box** (``aabb``): per axis, the ``BOX_PERCENTILE``-th and (100 - it)-th percentiles of the SfM points in
  the new frame, widened by ``BOX_MARGIN`` of its size on each side; stray points far out do not blow it up.

``applied_transform`` in transforms.json is this similarity as a 3x4 matrix [s·R | -s·R·c], so any result in the
world frame maps back to COLMAP's: x_colmap = R^T · (x_world - t) / s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_RADIUS = 4.0
# The object's extremes are surface points too: on lego's 200 renders the 2nd-98th percentile box plus 5 % left 3.3 %
# of the SfM points outside and cut off ends of the model; the 1st-99th plus 10 % leaves 1.1 % (half of them strays).
BOX_PERCENTILE = 1.0
BOX_MARGIN = 0.10
IRLS_STEPS = 20
PARALLEL_AXES = 1e-3  # smallest eigenvalue of the mean axis projector below this: axes nearly parallel


@dataclass(frozen=True)
class WorldFrame:
    transform: np.ndarray  # [4, 4] similarity, COLMAP world -> our world
    aabb: np.ndarray  # [2, 3] min and max corner, in our world
    centre_rule: str  # "optical axes" or "point median"

    def apply_to_poses(self, c2w: np.ndarray) -> np.ndarray:
        """Camera-to-world [N, 4, 4] in COLMAP's world -> ours (rotation part stays orthonormal)."""
        scale = np.cbrt(np.linalg.det(self.transform[:3, :3]))
        out = self.transform @ c2w
        out[:, :3, :3] /= scale
        return out

    def apply_to_points(self, points: np.ndarray) -> np.ndarray:
        return points @ self.transform[:3, :3].T + self.transform[:3, 3]


def choose_world_frame(c2w: np.ndarray, points: np.ndarray) -> WorldFrame:
    """The world frame for cameras ``c2w`` [N, 4, 4] (OpenGL axes, COLMAP world) and SfM points [P, 3]."""
    rotation = rotation_to_z(c2w[:, :3, 1].mean(axis=0))
    positions = c2w[:, :3, 3]
    forwards = -c2w[:, :3, 2]
    centre, rule = look_at_centre(positions, forwards)
    if centre is None:
        centre = np.median(points, axis=0) if len(points) else positions.mean(axis=0)
    distances = np.linalg.norm(positions - centre, axis=1)
    scale = CAMERA_RADIUS / max(float(np.median(distances)), 1e-9)
    transform = np.eye(4)
    transform[:3, :3] = scale * rotation
    transform[:3, 3] = -scale * rotation @ centre
    frame = WorldFrame(transform, np.zeros((2, 3)), rule)
    return WorldFrame(transform, scene_box(frame.apply_to_points(points) if len(points) else
                                           frame.apply_to_points(positions)), rule)


def rotation_to_z(up: np.ndarray) -> np.ndarray:
    """The rotation turning ``up`` onto +Z by the shortest arc (Rodrigues)."""
    up = up / max(np.linalg.norm(up), 1e-12)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    sin, cos = np.linalg.norm(axis), float(up @ z)
    if sin < 1e-9:
        return np.eye(3) if cos > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1.0 - cos) * cross @ cross


def look_at_centre(positions: np.ndarray, forwards: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(point nearest to the optical axes by IRLS, "optical axes"), or (None, "point median") when the axes are
    nearly parallel."""
    directions = forwards / np.linalg.norm(forwards, axis=1, keepdims=True)
    projectors = np.eye(3)[None] - directions[:, :, None] * directions[:, None, :]  # onto each axis's normal plane
    if np.linalg.eigvalsh(projectors.mean(axis=0))[0] < PARALLEL_AXES:
        return None, "point median"
    weights = np.ones(len(positions))
    for _ in range(IRLS_STEPS):
        matrix = (weights[:, None, None] * projectors).sum(axis=0)
        vector = (weights[:, None, None] * projectors @ positions[:, :, None]).sum(axis=0)[:, 0]
        centre = np.linalg.solve(matrix, vector)
        offsets = projectors @ (centre - positions)[:, :, None]
        weights = 1.0 / np.maximum(np.linalg.norm(offsets[:, :, 0], axis=1), 1e-6)
    return centre, "optical axes"


def scene_box(points: np.ndarray) -> np.ndarray:
    """Robust box [2, 3] around ``points`` [P, 3]: inner percentiles, widened by a margin."""
    low = np.percentile(points, BOX_PERCENTILE, axis=0)
    high = np.percentile(points, 100.0 - BOX_PERCENTILE, axis=0)
    margin = BOX_MARGIN * np.maximum(high - low, 1e-6)
    return np.stack([low - margin, high + margin])
