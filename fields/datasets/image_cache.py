"""A disk cache of decoded images, memory-mapped, for captures whose images do not fit in memory.

The images of a split are decoded once into ``<cache_dir>/<key>.npy`` (uint8 [N, H, W, 4], numpy's format) and
later loads map that file instead of decoding: the pages a training batch reads come from the operating system's file
cache, which it fills and evicts as memory allows, so the process's own memory does not grow with the capture.
The key hashes the image files (path, size, modification time) and the downscale, so an edited or replaced image,
or another factor, makes a new entry; delete the folder to reclaim the space.

An entry is written under a temporary name and renamed when complete, beside a small JSON file holding which images
had an alpha channel: an interrupted or failed decode leaves no entry behind, and entries already there are untouched.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fields.datasets.errors import SceneFormatError, SceneTooLargeError

FORMAT_VERSION = 1  # part of the key: a change of layout invalidates old entries


def cache_key(paths: list[Path], downscale: int) -> str:
    """Hex digest naming the entry of these image files at this downscale."""
    files = []
    for path in paths:
        stat = Path(path).stat()
        files.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    text = json.dumps({"version": FORMAT_VERSION, "downscale": downscale, "files": files})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_images(
    cache_dir: str | Path, paths: list[Path], downscale: int, shape: tuple[int, int, int, int],
    decode_into: Callable[[torch.Tensor], list[bool]],
) -> tuple[torch.Tensor, list[bool]]:
    """(images uint8 ``shape`` mapped from the cache, each image's has-alpha flag).

    On a miss, ``decode_into(images)`` fills a new entry (a tensor over the file being written) and returns the
    flags. The returned tensor is copy-on-write: writes to it stay in this process, the file is never changed.
    """
    cache_dir = Path(cache_dir)
    key = cache_key(paths, downscale)
    array_path, flags_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    if not (array_path.is_file() and flags_path.is_file()):
        _write_entry(cache_dir, array_path, flags_path, shape, decode_into)
    array = np.load(array_path, mmap_mode="c")
    flags = json.loads(flags_path.read_text())["has_alpha"]
    if tuple(array.shape) != tuple(shape) or array.dtype != np.uint8 or len(flags) != shape[0]:
        raise SceneFormatError(f"image cache entry {array_path} does not match its images (shape "
                                 f"{list(array.shape)}, expected {list(shape)}); delete it and load again")
    return torch.from_numpy(array), flags


def _write_entry(cache_dir: Path, array_path: Path, flags_path: Path, shape: tuple[int, int, int, int],
                 decode_into: Callable[[torch.Tensor], list[bool]]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    needed = int(np.prod(shape))
    free = shutil.disk_usage(cache_dir).free
    if needed > free:
        raise SceneTooLargeError(f"the image cache needs {needed / 1e9:.1f} GB but {cache_dir} has "
                                 f"{free / 1e9:.1f} GB free; choose another cache folder or a larger --downscale")
    partial = array_path.with_name(f"{array_path.stem}.{os.getpid()}.partial.npy")
    try:
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        flags = decode_into(torch.from_numpy(array))
        array.flush()
        del array
        flags_path.write_text(json.dumps({"has_alpha": [bool(flag) for flag in flags]}))
        os.replace(partial, array_path)
    finally:
        partial.unlink(missing_ok=True)
