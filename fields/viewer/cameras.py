"""Camera conversions between viser and this project, and camera-path JSON.

viser reports a browser camera as ``wxyz`` (the rotation R in ``p_world = R p_camera + t``) and ``position`` (t),
with OpenCV camera axes: +X right, +Y down, +Z forward. Our cameras (transforms.json, :class:`PinholeCamera`) use
OpenGL axes: +X right, +Y up, -Z forward. The two differ by flipping the camera's Y and Z axes.
"""
import math

import numpy as np
import torch

from fields.render.camera import PinholeCamera

OPENCV_FROM_OPENGL = np.diag([1.0, -1.0, -1.0])  # flips camera Y and Z; its own inverse


def quaternion_to_matrix(wxyz) -> np.ndarray:
    w, x, y, z = np.asarray(wxyz, dtype=np.float64) / np.linalg.norm(wxyz)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation) -> np.ndarray:
    """A unit quaternion (w, x, y, z) with w >= 0 for a 3x3 rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    candidates = [trace, m[0, 0], m[1, 1], m[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i, j, l = [(0, 1, 2), (1, 2, 0), (2, 0, 1)][k - 1]
        s = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[l, l])
        q = [0.0] * 4
        q[0] = (m[l, j] - m[j, l]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + l] = (m[l, i] + m[i, l]) / s
    q = np.array(q)
    return q if q[0] >= 0 else -q


def c2w_from_viser(wxyz, position) -> np.ndarray:
    """[4, 4] camera-to-world with OpenGL axes from a viser camera pose."""
    c2w = np.eye(4)
    c2w[:3, :3] = quaternion_to_matrix(wxyz) @ OPENCV_FROM_OPENGL
    c2w[:3, 3] = np.asarray(position, dtype=np.float64)
    return c2w


def viser_from_c2w(c2w) -> tuple[np.ndarray, np.ndarray]:
    """(wxyz, position) of a viser camera placed at an OpenGL camera-to-world pose."""
    c2w = np.asarray(c2w, dtype=np.float64)
    return matrix_to_quaternion(c2w[:3, :3] @ OPENCV_FROM_OPENGL), c2w[:3, 3].copy()


def pinhole_from_viser(wxyz, position, fov_y_radians: float, width: int, height: int) -> PinholeCamera:
    """The browser's view as a :class:`PinholeCamera` of ``width`` x ``height`` pixels (fov is vertical)."""
    c2w = torch.as_tensor(c2w_from_viser(wxyz, position), dtype=torch.float32)
    return PinholeCamera.from_fov(c2w, width, height, math.degrees(fov_y_radians))
