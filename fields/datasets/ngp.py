"""instant-ngp ``transforms.json`` scenes (real captures, e.g. from colmap2nerf.py).

Intrinsics: shared at the top level and/or per frame (a frame's values win): focal length from ``fl_x``/``fl_y``
(pixels), ``camera_angle_x``/``camera_angle_y`` (radians) or ``x_fov``/``y_fov`` (degrees), in that order of
preference; with only one axis given, the other uses the same focal length. Principal point ``cx``/``cy`` (pixels,
default: the image centre); ``w``/``h`` (must match the image files). Lens distortion ``k1 k2 p1 p2`` (OpenCV's
Brown-Conrady model on normalised image coordinates, y down), or for a fisheye camera (``camera_model``
``OPENCV_FISHEYE``, or instant-ngp's ``is_fisheye``) ``k1 k2 k3 k4`` of OpenCV's fisheye model
(:mod:`fields.datasets.rays`); rays are undistorted, images are left as they are.

World space. instant-ngp does not use the JSON's coordinates as they are; its loader maps each camera-to-world
matrix [R | t] (OpenGL camera axes, as colmap2nerf writes them) into "ngp space" (our reading of instant-ngp's
``nerf_matrix_to_ngp``, reimplemented here):

1. the camera position is scaled: t -> scale * t (``scale`` key, default 0.33);
2. the world axes are cycled, ngp (x, y, z) = json (y, z, x): the rows of [R | t] are permuted (1, 2, 0);
3. the offset is added to the position, in ngp axes (``offset`` key, a 3-vector or a scalar, default 0.5);
4. the camera's y and z axes (columns 1 and 2 of R) are negated, to instant-ngp's own camera frame
   (looks down +Z, +Y down).

The scene box is the cube of side ``aabb_scale`` (default 1) centred at (0.5, 0.5, 0.5): instant-ngp fixes the box
centre there, so ``offset`` moves the scene inside the box, not the box. With the default offset the box is
[offset - aabb_scale/2, offset + aabb_scale/2]^3. An ``aabb`` key [[min], [max]] sets scale and offset so that box
fills the unit cube, as instant-ngp does.

Here, ngp space IS the world space (box, meshes and exported points agree with instant-ngp's), but the cameras
keep the project's OpenGL axes, so step 4 is not applied; rays are the same either way, since instant-ngp's
camera ray R·diag(1, -1, -1)·(x, y, 1) equals ours R·(x, -y, -1). ``SceneData.source_to_world`` holds steps 1-3 as
a 4x4 similarity transform, to map results back to the capture's own coordinates.

nerfstudio-style files (``apps/process_data.py`` writes them) may add ``camera_model`` (``OPENCV``, ``PINHOLE``,
``SIMPLE_PINHOLE``, ``SIMPLE_RADIAL``, ``RADIAL``, ``OPENCV_FISHEYE`` load; other fisheye and panoramic models are
refused with a clear error)
and ``applied_transform`` (3x4: the similarity that took the capture's own coordinates, e.g. COLMAP's, to the
file's; checked, and kept in the file to map results further back). ``source_to_world`` maps the file's
coordinates, in which the poses and a ``sparse_pc.ply`` beside it are written.

Splits: a scene directory with ``transforms_{split}.json`` uses that file's frames. A single ``transforms.json``
with nerfstudio's ``train_filenames`` / ``val_filenames`` / ``test_filenames`` lists (``file_path`` values) uses
them. Otherwise it is split like LLFF / mip-NeRF 360: frames sorted naturally by ``file_path`` (as instant-ngp
sorts them), every 8th frame (0, 8, 16, ...) is ``val``/``test``, the others are ``train``; ``all`` takes every
frame.
"""
from __future__ import annotations

import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from fields.datasets._files import frames_of, load_images, number, pose_matrix, read_json, resolve_image
from fields.datasets.errors import SceneFileMissingError, SceneFormatError
from fields.datasets.scene import SceneData

DEFAULT_SCALE = 0.33  # instant-ngp's NERF_SCALE
DEFAULT_OFFSET = (0.5, 0.5, 0.5)
BOX_CENTRE = 0.5
HOLDOUT_EVERY = 8
NEAR = 0.05  # hint in ngp-space units, where the object of interest spans about one unit

# ngp (x, y, z) = json (y, z, x)
AXIS_CYCLE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])

# Keys that mark a transforms file as instant-ngp rather than plain Blender.
NGP_KEYS = frozenset(
    {"fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "p1", "p2", "aabb_scale", "scale", "offset", "aabb",
     "x_fov", "y_fov", "camera_angle_y"}
)
_UNSUPPORTED_LENSES = ("ftheta_p0", "latlong", "equirectangular")
# nerfstudio camera models that are pinhole cameras with (at most) OpenCV's k1 k2 p1 p2 distortion
_PINHOLE_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL")
_FISHEYE_MODEL = "OPENCV_FISHEYE"  # OpenCV's fisheye model, k1 k2 k3 k4
_SPLIT_LISTS = {"train": "train_filenames", "val": "val_filenames", "test": "test_filenames"}


def looks_like_ngp(content: dict) -> bool:
    """True when a transforms file uses instant-ngp keys (at the top level or in a frame)."""
    frames = content.get("frames") if isinstance(content.get("frames"), list) else []
    return bool(NGP_KEYS & set(content)) or any(isinstance(f, dict) and NGP_KEYS & set(f) for f in frames)


def load_ngp(
    path: str | Path, split: str = "train", downscale: int | None = 1, holdout_every: int = HOLDOUT_EVERY,
    device: str = "cpu", cache_dir: str | Path | None = None,
) -> SceneData:
    """Load ``split`` of an instant-ngp scene; ``path`` is the scene directory or its transforms JSON file.
    ``downscale``, ``device`` and ``cache_dir`` as in :func:`fields.datasets.load_scene`."""
    json_path, use_holdout = _transforms_file(Path(path), split)
    content = read_json(json_path)
    frames = sorted(frames_of(content, json_path), key=lambda f: _natural_key(f["file_path"]))
    if use_holdout and _SPLIT_LISTS.get(split) in content:
        frames = _listed(frames, content, split, json_path)
    elif use_holdout:
        frames = _holdout(frames, split, holdout_every, json_path)
    scale, offset = _scale_and_offset(content, json_path)
    _check_lens_supported(content, json_path)
    fisheye = _is_fisheye(content)
    paths = [resolve_image(json_path.parent, frame["file_path"], json_path) for frame in frames]
    images, (width, height), has_alpha, downscale = load_images(paths, downscale, json_path, False, device, cache_dir)

    cameras = [_frame_camera(content, frame, width, height, json_path, i, fisheye) for i, frame in enumerate(frames)]
    intrinsics = torch.tensor([c[0] for c in cameras], dtype=torch.float64) / downscale
    distortion = torch.tensor([c[1] for c in cameras], dtype=torch.float32)
    source_to_world = _source_to_world(scale, offset)
    _applied_transform(content, json_path)  # checked; the file's points and poses are already in its frame
    c2w = np.stack([source_to_world @ pose_matrix(frame, json_path, i) for i, frame in enumerate(frames)])
    c2w[:, :3, :3] /= scale  # keep rotations orthonormal: only positions carry the scale

    aabb_scale = number(content, "aabb_scale", json_path) if "aabb_scale" in content else 1.0
    if aabb_scale <= 0:
        raise SceneFormatError(f"{json_path}: 'aabb_scale' must be positive, got {aabb_scale}")
    aabb = torch.tensor([BOX_CENTRE - aabb_scale / 2] * 3 + [BOX_CENTRE + aabb_scale / 2] * 3, dtype=torch.float32)
    return SceneData(
        images=images,
        c2w=torch.from_numpy(c2w).float(),
        intrinsics=intrinsics.float(),
        width=int(images.shape[2]),
        height=int(images.shape[1]),
        aabb=aabb,
        near=NEAR,
        far=_far_hint(c2w[:, :3, 3], aabb.double().numpy()),
        image_paths=paths,
        distortion=distortion if fisheye or bool(distortion.any()) else None,
        fisheye=fisheye,
        split=split,
        source_format="ngp",
        has_alpha=has_alpha,
        source_to_world=torch.from_numpy(source_to_world).float(),
        downscale=downscale,
    )


def _transforms_file(path: Path, split: str) -> tuple[Path, bool]:
    """(the JSON file to read, whether ``split`` must be carved out of it by holdout)."""
    if path.is_file():
        return path, split != "all" and path.name != f"transforms_{split}.json"
    if (path / f"transforms_{split}.json").is_file():
        return path / f"transforms_{split}.json", False
    if (path / "transforms.json").is_file():
        return path / "transforms.json", split != "all"
    present = sorted(p.name for p in path.glob("transforms*.json")) if path.is_dir() else []
    raise SceneFileMissingError(
        f"No instant-ngp transforms file for split '{split}' in {path}: expected transforms_{split}.json or "
        f"transforms.json. Present: {', '.join(present) if present else 'none'}."
    )


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _holdout(frames: list[dict], split: str, every: int, json_path: Path) -> list[dict]:
    if split == "train":
        chosen = [f for i, f in enumerate(frames) if i % every != 0]
    elif split in ("val", "test"):
        chosen = frames[::every]
    else:
        raise SceneFileMissingError(
            f"{json_path}: a single transforms file has the splits 'train', 'val', 'test' (every {every}th frame "
            f"held out) and 'all'; '{split}' is none of them."
        )
    if not chosen:
        raise SceneFormatError(f"{json_path}: {len(frames)} frame(s) are too few to hold out a '{split}' split")
    return chosen


def _listed(frames: list[dict], content: dict, split: str, json_path: Path) -> list[dict]:
    """The frames named in the file's ``{split}_filenames`` list (nerfstudio's explicit split)."""
    key = _SPLIT_LISTS[split]
    listed = content[key]
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise SceneFormatError(f"{json_path}: '{key}' must be a list of file_path strings")
    wanted = {name.removeprefix("./") for name in listed}
    chosen = [frame for frame in frames if frame["file_path"].removeprefix("./") in wanted]
    if len(chosen) != len(wanted):
        known = {frame["file_path"].removeprefix("./") for frame in frames}
        missing = sorted(wanted - known)
        raise SceneFormatError(f"{json_path}: '{key}' names {len(missing)} image(s) with no frame (e.g. "
                               f"'{missing[0]}'); list only frames' file_path values")
    return chosen


def _applied_transform(content: dict, json_path: Path) -> np.ndarray:
    """nerfstudio's ``applied_transform`` (capture coordinates -> file coordinates) as 4x4; identity if absent."""
    transform = np.eye(4)
    if "applied_transform" in content:
        transform[:3] = _vector(content["applied_transform"], "applied_transform", json_path, shape=(3, 4))
    return transform


def _scale_and_offset(content: dict, json_path: Path) -> tuple[float, np.ndarray]:
    scale = number(content, "scale", json_path) if "scale" in content else DEFAULT_SCALE
    offset = np.array(DEFAULT_OFFSET)
    if "offset" in content:
        offset = _vector(content["offset"], "offset", json_path)
    if "aabb" in content:  # fit the given box into the unit cube, centred at 0.5
        box = _vector(content["aabb"], "aabb", json_path, shape=(2, 3))
        scale = 1.0 / max(float((box[1] - box[0]).max()), 1e-6)
        offset = BOX_CENTRE - 0.5 * (box[0] + box[1]) * scale
    if scale <= 0:
        raise SceneFormatError(f"{json_path}: 'scale' must be positive, got {scale}")
    return scale, offset


def _vector(value, key: str, json_path: Path, shape: tuple = (3,)) -> np.ndarray:
    try:
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()
    except (TypeError, ValueError):
        array = None
    if array is None or not np.isfinite(array).all():
        raise SceneFormatError(f"{json_path}: '{key}' must be numbers of shape {list(shape)}, got {value!r}")
    return array


def _source_to_world(scale: float, offset: np.ndarray) -> np.ndarray:
    """The 4x4 similarity x_world = AXIS_CYCLE · (scale · x_json) + offset (instant-ngp's steps 1-3)."""
    transform = np.eye(4)
    transform[:3, :3] = scale * AXIS_CYCLE
    transform[:3, 3] = offset
    return transform


def _frame_camera(
    content: dict, frame: dict, width: int, height: int, json_path: Path, index: int, fisheye: bool
) -> tuple[list[float], list[float]]:
    """([fx, fy, cx, cy], [k1, k2, p1, p2] or with ``fisheye`` [k1, k2, k3, k4]) of one frame, in pixels of the
    full-resolution image."""
    where = f" (frame {index}, '{frame['file_path']}')"
    _check_lens_supported(frame, json_path)
    if _is_fisheye({**content, **frame}) != fisheye:
        raise SceneFormatError(f"{json_path}{where}: fisheye and pinhole cameras are mixed in one file; process the "
                               "two kinds of images as separate captures")
    for key, actual in (("w", width), ("h", height)):
        declared = frame.get(key, content.get(key))
        if declared is not None and declared != actual:
            raise SceneFormatError(
                f"{json_path}{where}: declares {key}={declared} but the image is {width}x{height}. "
                "Intrinsics are in pixels of the declared size: fix w/h and the intrinsics, or the images."
            )
    focal = _focal_lengths(frame, width, height, json_path) or _focal_lengths(content, width, height, json_path)
    if focal is None:
        raise SceneFormatError(
            f"{json_path}{where}: no focal length; give fl_x (and fl_y), camera_angle_x or x_fov, "
            "at the top level or per frame"
        )
    merged = {**content, **frame}
    cx = number(merged, "cx", json_path, where) if "cx" in merged else 0.5 * width
    cy = number(merged, "cy", json_path, where) if "cy" in merged else 0.5 * height
    keys = ("k1", "k2", "k3", "k4") if fisheye else ("k1", "k2", "p1", "p2")
    lens = [number(merged, k, json_path, where) if k in merged else 0.0 for k in keys]
    return [focal[0], focal[1], cx, cy], lens


def _focal_lengths(container: dict, width: int, height: int, json_path: Path) -> tuple[float, float] | None:
    def one_axis(axis: str, resolution: int) -> float | None:
        if f"{axis}_fov" in container:
            return 0.5 * resolution / math.tan(0.5 * math.radians(number(container, f"{axis}_fov", json_path)))
        if f"fl_{axis}" in container:
            return number(container, f"fl_{axis}", json_path)
        if f"camera_angle_{axis}" in container:
            return 0.5 * resolution / math.tan(0.5 * number(container, f"camera_angle_{axis}", json_path))
        return None

    fx, fy = one_axis("x", width), one_axis("y", height)
    if fx is None and fy is None:
        return None
    return (fx if fx is not None else fy), (fy if fy is not None else fx)


def _is_fisheye(container: dict) -> bool:
    return container.get("camera_model") == _FISHEYE_MODEL or bool(container.get("is_fisheye"))


def _check_lens_supported(container: dict, json_path: Path) -> None:
    model = container.get("camera_model")
    supported = (*_PINHOLE_MODELS, _FISHEYE_MODEL)
    if model is not None and model not in supported:
        raise SceneFormatError(
            f"{json_path}: camera_model {model!r} is not supported; supported: {', '.join(supported)} "
            "(pinhole with k1 k2 p1 p2 distortion, OpenCV's fisheye with k1 k2 k3 k4). Undistort the images first "
            "(e.g. with COLMAP's image undistorter) or reprocess the capture with --camera-model OPENCV.")
    if any(key in container for key in _UNSUPPORTED_LENSES):
        raise SceneFormatError(
            f"{json_path}: only pinhole cameras (OpenCV distortion k1, k2, p1, p2) and OpenCV's fisheye model are "
            "supported; this file uses an f-theta / panoramic camera model. Undistort the images first (e.g. with "
            "COLMAP)."
        )
    if _is_fisheye(container):
        return
    ignored = [key for key in ("k3", "k4") if container.get(key)]
    if ignored:
        warnings.warn(
            f"{json_path}: {', '.join(ignored)} ignored: instant-ngp's OpenCV lens model uses k1, k2, p1, p2 only",
            stacklevel=3,
        )


def _far_hint(camera_positions: np.ndarray, aabb: np.ndarray) -> float:
    """Distance from the farthest camera to the farthest corner of the box."""
    corners = np.array(list(itertools.product(*[(aabb[axis], aabb[axis + 3]) for axis in range(3)])))
    return float(np.linalg.norm(camera_positions[:, None, :] - corners[None], axis=-1).max())
