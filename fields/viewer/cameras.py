"""Camera conversions between viser and this project, and the view a browser's frames are rendered for.

viser reports a browser camera as ``wxyz`` (the rotation R in ``p_world = R p_camera + t``) and ``position`` (t),
with OpenCV camera axes: +X right, +Y down, +Z forward. Our cameras (transforms.json, :class:`PinholeCamera`) use
OpenGL axes: +X right, +Y up, -Z forward. The two differ by flipping the camera's Y and Z axes.
"""
import math
import threading
import time

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


def view_of(camera) -> tuple:
    """What a frame depends on from a viser camera: (wxyz, position, vertical fov, canvas width, canvas height)."""
    return (np.array(camera.wxyz, np.float64), np.array(camera.position, np.float64), float(camera.fov),
            int(camera.image_width), int(camera.image_height))


def same_view(a: tuple, b: tuple, tolerance: float = 1e-5) -> bool:
    """Equal up to the rounding of a pose the browser echoes in its own float32 arithmetic."""
    rotation = min(np.abs(a[0] - b[0]).max(), np.abs(a[0] + b[0]).max())  # q and -q: the same rotation
    scale = max(1.0, float(np.abs(b[1]).max()))
    return (rotation <= tolerance and np.abs(a[1] - b[1]).max() <= tolerance * scale
            and abs(a[2] - b[2]) <= tolerance and a[3:] == b[3:])


class BrowserView:
    """The view (:func:`view_of`) a browser's frames are rendered for, from the camera messages it sends.

    viser passes on every camera message, also unchanged ones, and a browser that has just connected still
    reports cameras it held before it applied the opening view the viewer sent it. Re-rendering for those would
    replace the sharp first frame by a moving one of a view about to vanish. So a message changes the view only
    when it differs from it, and during the first ``settle_seconds`` only once the browser has shown the opening
    view (its echo); :meth:`settle` (called when they are over) takes the browser's camera as it is then."""

    def __init__(self, opening: tuple, settle_seconds: float = 2.0):
        self.view = opening
        self._settle_until = time.perf_counter() + settle_seconds
        self._settled = False
        self._lock = threading.Lock()

    def report(self, view: tuple) -> bool:
        """A camera message; True when the view changed (a new frame is wanted)."""
        with self._lock:
            if same_view(view, self.view):
                self._settled = True
                return False
            if not self._settled and time.perf_counter() < self._settle_until:
                return False  # sent before the browser applied the opening view
            self._settled = True
            self.view = view
            return True

    def settle(self, view: tuple) -> bool:
        """The settling time is over: ``view`` (the browser's camera now) is the view. True when it changed."""
        with self._lock:
            self._settle_until = 0.0
        return self.report(view)

    def camera(self, width: int, height: int) -> PinholeCamera:
        wxyz, position, fov = self.view[:3]
        return pinhole_from_viser(wxyz, position, fov, width, height)

    def aspect(self) -> float:
        return self.view[3] / self.view[4]
