"""Writing the scene folder that the loaders read: transforms.json, sparse_pc.ply, images_2/ and images_4/.

``transforms.json`` follows instant-ngp / nerfstudio: intrinsics ``fl_x fl_y cx cy w h`` (pixels of ``images/``;
COLMAP's convention, the top-left pixel's centre at (0.5, 0.5), is ours too), lens ``k1 k2 p1 p2`` (``k1..k4`` for
OPENCV_FISHEYE), ``camera_model``; shared at the top level, or per frame when every image has its own camera.
Frames: ``file_path`` (``images/NAME``), ``transform_matrix`` (OpenGL camera-to-world in the world frame of
:mod:`fields.capture.world`), ``sharpness``, ``colmap_im_id``. Also ``aabb`` (scene box), ``applied_transform``
(COLMAP world -> this file's world), ``ply_file_path``, and optionally ``train_filenames``/``val_filenames``/
``test_filenames`` (nerfstudio's keys) when a holdout rule chose the evaluation images. Every file is written to a
temporary name and renamed, so no half-written file is ever left.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
from PIL import Image

from fields.export.writers import atomic_output

DOWNSCALES = (2, 4)
# COLMAP camera model -> the names of its parameters, in order
CAMERA_PARAMETERS = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fl_x", "fl_y", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k1"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
    "OPENCV": ("fl_x", "fl_y", "cx", "cy", "k1", "k2", "p1", "p2"),
    "OPENCV_FISHEYE": ("fl_x", "fl_y", "cx", "cy", "k1", "k2", "k3", "k4"),
}
# what a loader reads: simple models are written as the general one they are a case of
WRITTEN_MODEL = {"SIMPLE_PINHOLE": "PINHOLE", "PINHOLE": "PINHOLE", "SIMPLE_RADIAL": "OPENCV", "RADIAL": "OPENCV",
                 "OPENCV": "OPENCV", "OPENCV_FISHEYE": "OPENCV_FISHEYE"}


def camera_entry(camera: pycolmap.Camera) -> dict:
    """The transforms.json intrinsics of a COLMAP camera."""
    names = CAMERA_PARAMETERS.get(camera.model_name)
    if names is None:
        raise ValueError(f"camera model {camera.model_name} cannot be written to transforms.json")
    values = dict(zip(names, (float(v) for v in camera.params)))
    if "f" in values:
        values["fl_x"] = values["fl_y"] = values.pop("f")
    model = WRITTEN_MODEL[camera.model_name]
    lens = ("k1", "k2", "k3", "k4") if model == "OPENCV_FISHEYE" else ("k1", "k2", "p1", "p2")
    entry = {"camera_model": model, "fl_x": values["fl_x"], "fl_y": values["fl_y"], "cx": values["cx"],
             "cy": values["cy"], "w": int(camera.width), "h": int(camera.height)}
    if model != "PINHOLE":
        entry.update({key: values.get(key, 0.0) for key in lens})
    return entry


def opengl_camera_to_world(image: pycolmap.Image) -> np.ndarray:
    """[4, 4] camera-to-world with OpenGL camera axes (x right, y up, z back) from COLMAP's world-to-camera."""
    world_to_camera = np.eye(4)
    world_to_camera[:3] = image.cam_from_world().matrix()
    c2w = np.linalg.inv(world_to_camera)
    c2w[:3, 1:3] *= -1.0  # COLMAP/OpenCV camera axes: y down, z forward
    return c2w


def write_point_cloud(path: Path, points: np.ndarray, colours: np.ndarray) -> None:
    """Binary little-endian PLY with ``x y z`` (float32) and ``red green blue`` (uint8), as nerfstudio writes."""
    vertex = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                          ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for axis, name in enumerate("xyz"):
        vertex[name] = points[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertex[name] = colours[:, channel]
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(header.encode("ascii"))
            out.write(vertex.tobytes())


def write_downscaled(scene_dir: Path, names: list[str]) -> None:
    """``images_2/`` and ``images_4/``: area-averaged copies (missing ones only, so a rerun is cheap)."""
    for factor in DOWNSCALES:
        folder = scene_dir / f"images_{factor}"
        folder.mkdir(exist_ok=True)
        for name in names:
            target = folder / name
            if target.is_file():
                continue
            with Image.open(scene_dir / "images" / name) as image:
                small = image.convert("RGB").reduce(factor)
                with atomic_output(target) as temporary:
                    small.save(temporary, format=image.format or "PNG", quality=95)
