"""NeRF-synthetic / Blender-format scenes: ``transforms_{split}.json`` beside the images.

Format: ``camera_angle_x`` (horizontal field of view, radians) and ``frames``, each with a ``file_path`` (relative
to the JSON file, with or without extension) and a ``transform_matrix`` (camera-to-world, OpenGL camera axes).
Focal length = 0.5 * W / tan(0.5 * camera_angle_x), square pixels, principal point at the image centre.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from fields.datasets._files import frames_of, load_images, number, pose_matrix, read_json, resolve_image
from fields.datasets.errors import SceneFileMissingError
from fields.datasets.scene import SceneData

SCENE_BOX = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5)  # NeRF-synthetic objects fit in [-1.5, 1.5]^3
NEAR, FAR = 2.0, 6.0  # the original NeRF bounds for the synthetic scenes (cameras at radius ~4)


def available_splits(scene_dir: Path) -> list[str]:
    """Splits that have a ``transforms_{split}.json`` in ``scene_dir``, sorted."""
    return sorted(p.stem[len("transforms_") :] for p in Path(scene_dir).glob("transforms_*.json"))


def split_file(scene_dir: Path, split: str) -> Path:
    """``scene_dir/transforms_{split}.json``, or SceneFileMissingError saying which splits exist."""
    path = Path(scene_dir) / f"transforms_{split}.json"
    if not path.is_file():
        present = available_splits(scene_dir)
        listing = ", ".join(present) if present else "none (no transforms_*.json at all)"
        raise SceneFileMissingError(
            f"No split '{split}' in {scene_dir}: {path.name} does not exist. Splits present: {listing}."
        )
    return path


def load_blender(scene_dir: str | Path, split: str = "train", downscale: int | None = 1, device: str = "cpu",
                 cache_dir: str | Path | None = None) -> SceneData:
    """Load one split of a Blender-format scene; images stay RGBA (compositing is the trainer's job).
    ``downscale``, ``device`` and ``cache_dir`` as in :func:`fields.datasets.load_scene`."""
    scene_dir = Path(scene_dir)
    json_path = split_file(scene_dir, split)
    content = read_json(json_path)
    frames = frames_of(content, json_path)
    angle_x = number(content, "camera_angle_x", json_path)
    poses = np.stack([pose_matrix(frame, json_path, i) for i, frame in enumerate(frames)])
    paths = [resolve_image(json_path.parent, frame["file_path"], json_path) for frame in frames]

    images, (width, height), has_alpha, downscale = load_images(paths, downscale, json_path, True, device, cache_dir)
    if not has_alpha:
        warnings.warn(
            f"{json_path}: no image has an alpha channel; alpha = 1 is assumed everywhere, so the training "
            "background colour has no effect (fine for real captures, unexpected for NeRF-synthetic).",
            stacklevel=2,
        )
    focal = 0.5 * width / math.tan(0.5 * angle_x)
    intrinsics = torch.tensor([focal, focal, 0.5 * width, 0.5 * height], dtype=torch.float64) / downscale
    return SceneData(
        images=images,
        c2w=torch.from_numpy(poses).float(),
        intrinsics=intrinsics.float().expand(len(frames), 4).contiguous(),
        width=int(images.shape[2]),
        height=int(images.shape[1]),
        aabb=torch.tensor(SCENE_BOX, dtype=torch.float32),
        near=NEAR,
        far=FAR,
        image_paths=paths,
        split=split,
        source_format="blender",
        has_alpha=has_alpha,
        downscale=downscale,
    )
