"""File handling shared by the scene loaders: JSON with readable errors, frame parsing, image loading."""
from __future__ import annotations

import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fields.datasets.capture_memory import resolve_downscale
from fields.datasets.errors import SceneFileMissingError, SceneFormatError
from fields.datasets.image_cache import cached_images

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")


def read_json(path: Path) -> dict:
    """Parse a transforms file; malformed JSON raises SceneFormatError with the file, line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SceneFormatError(f"{path}: not a UTF-8 text file ({error}); expected a JSON transforms file") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise SceneFormatError(f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}. "
                               "Fix the file (a JSON validator shows the exact spot) or regenerate it.") from None
    if not isinstance(content, dict):
        raise SceneFormatError(f"{path}: expected a JSON object at the top level, got {type(content).__name__}")
    return content


def frames_of(content: dict, json_path: Path) -> list[dict]:
    """The non-empty ``frames`` list of a transforms file, each frame an object with a ``file_path``."""
    frames = content.get("frames")
    if not isinstance(frames, list) or not frames:
        raise SceneFormatError(f"{json_path}: needs a non-empty 'frames' list (one entry per image)")
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise SceneFormatError(f"{json_path}: frame {index} needs a 'file_path' string")
    return frames


def number(container: dict, key: str, json_path: Path, where: str = "") -> float:
    """``container[key]`` as a finite float, or a SceneFormatError naming the key."""
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SceneFormatError(f"{json_path}{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def pose_matrix(frame: dict, json_path: Path, index: int) -> np.ndarray:
    """The frame's ``transform_matrix`` as a float64 [4, 4] array (a 3x4 matrix gets its [0, 0, 0, 1] row)."""
    try:
        matrix = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.shape not in ((4, 4), (3, 4)) or not np.isfinite(matrix).all():
        raise SceneFormatError(f"{json_path}: frame {index} ('{frame['file_path']}') needs a 'transform_matrix' of 4x4 "
                               "(or 3x4) finite numbers (camera-to-world)")
    if matrix.shape == (3, 4):
        matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
    return matrix


def resolve_image(base_dir: Path, file_path: str, json_path: Path) -> Path:
    """The image a frame's ``file_path`` names; a path without extension may omit ``.png``/``.jpg``."""
    path = base_dir / file_path.replace("\\", "/")
    if path.is_file():
        return path
    tried = [path]
    if path.suffix not in IMAGE_EXTENSIONS:  # no extension, or a dot inside the name
        for extension in IMAGE_EXTENSIONS:
            candidate = path.with_name(path.name + extension)
            if candidate.is_file():
                return candidate
            tried.append(candidate)
    raise SceneFileMissingError(f"Image file not found: {path} (file_path '{file_path}' in {json_path}). Tried: "
                                f"{', '.join(map(str, tried))}. Restore the image or remove its frame from the "
                                "transforms file.")


DOWNSCALE_BAND_PIXELS = 1 << 18  # source pixels averaged at once: float temporaries of a few MB, not ~150 MB at 1080p


def downscale_rgba(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average uint8 RGBA [H, W, 4] by an integer ``factor`` (rows/columns beyond a multiple are cropped).

    Colour is averaged premultiplied by alpha, so compositing the result over a background equals
    downscaling the composited full-resolution image: transparent pixels' hidden RGB does not bleed into edges.
    Bands of rows are averaged one at a time, so the float copies stay small whatever the image size.
    """
    if factor == 1:
        return image
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    out = np.empty((height // factor, width // factor, 4), dtype=np.uint8)
    band = factor * max(1, DOWNSCALE_BAND_PIXELS // (width * factor))  # source rows per band, a multiple of factor
    for top in range(0, height, band):
        out[top // factor : (top + band) // factor] = _downscale_band(image[top : top + band, :width], factor)
    return out


def _downscale_band(image: np.ndarray, factor: int) -> np.ndarray:
    """:func:`downscale_rgba` of rows and columns that are multiples of ``factor``."""
    channels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()  # [4, H, W], 0..255
    rgb, alpha = channels[:3], channels[3:]
    sums = F.avg_pool2d(torch.cat([rgb * alpha, alpha, rgb])[None], factor)[0]
    premultiplied, mean_alpha, plain = sums[:3], sums[3:4], sums[4:]
    # where a block is fully transparent, keep its plain mean colour (invisible either way)
    straight = torch.where(mean_alpha > 0, premultiplied / mean_alpha.clamp_min(1e-12), plain)
    out = torch.cat([straight, mean_alpha]).round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(1, 2, 0).numpy()


@contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """The image file opened by PIL; a missing or undecodable file (also while reading it) raises the loaders'
    errors."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise SceneFileMissingError(f"Image file not found: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise SceneFormatError(f"Cannot decode image {path}: {error}. The file is corrupt or not an image; "
                               "re-export it or remove its frame from the transforms file.") from None


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header without decoding the pixels."""
    with _open_image(path) as image:
        return image.size


def _read_rgba(path: Path, downscale: int) -> tuple[np.ndarray, bool]:
    """(RGBA uint8 image downscaled, whether the file carried alpha)."""
    with _open_image(path) as image:
        image.load()
        has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
        rgba = np.array(image.convert("RGBA"))  # writable, for torch.from_numpy
    return downscale_rgba(rgba, downscale), has_alpha


def load_images(paths: list[Path], downscale: int | None, json_path: Path, expect_alpha: bool, device: str = "cpu",
                cache_dir: Path | None = None) -> tuple[torch.Tensor, tuple[int, int], bool, int]:
    """Load ``paths`` as one uint8 [N, H, W, 4] tensor.

    Returns (images, original (width, height), has_alpha, downscale used). All images must have the same size.
    ``downscale`` None picks :func:`fields.datasets.capture_memory.resolve_downscale`'s default for ``device``. Sizes
    are read from the file headers first: images of different sizes, or more than the memory available holds,
    fail before any is decoded. Each image is decoded straight into its slot of the result, so loading never
    holds more than the result and the few images in flight. With ``cache_dir`` the result is memory-mapped from
    a disk cache of decoded images (fields.datasets.image_cache) and need not fit in memory. Images without an
    alpha channel get alpha 255; a warning is issued when alpha was expected but only some images have it.
    """
    sizes = [_image_size(path) for path in paths]
    _check_same_size(paths, sizes, json_path)
    width, height = sizes[0]
    downscale = resolve_downscale(downscale, len(paths), width, height, json_path, device,
                                  check_memory=cache_dir is None)
    if min(width, height) < downscale:
        raise ValueError(f"downscale={downscale} is larger than the image {paths[0]} ({width}x{height})")
    shape = (len(paths), height // downscale, width // downscale, 4)
    if cache_dir is None:
        images = torch.empty(shape, dtype=torch.uint8)
        alpha_flags = _decode_into(images, paths, downscale)
    else:
        images, alpha_flags = cached_images(cache_dir, paths, downscale, shape,
                                            lambda out: _decode_into(out, paths, downscale))
    if expect_alpha and any(alpha_flags) and not all(alpha_flags):
        rgb_only = [str(p) for p, flag in zip(paths, alpha_flags) if not flag]
        warnings.warn(f"{json_path}: {len(rgb_only)} of {len(paths)} images have no alpha channel (e.g. "
                      f"{rgb_only[0]}); they are treated as fully opaque (alpha = 1), which is probably not what the "
                      "others expect.", stacklevel=3)
    return images, (width, height), any(alpha_flags), downscale


def _decode_into(images: torch.Tensor, paths: list[Path], downscale: int) -> list[bool]:
    """Decodes ``paths[i]`` into ``images[i]``; returns whether each file carried alpha."""

    def decode_one(index: int) -> bool:
        rgba, has_alpha = _read_rgba(paths[index], downscale)
        images[index] = torch.from_numpy(rgba)
        return has_alpha

    workers = min(8, os.cpu_count() or 1, len(paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes with the GIL released
        return list(pool.map(decode_one, range(len(paths))))


def _check_same_size(paths: list[Path], sizes: list[tuple[int, int]], json_path: Path) -> None:
    first = sizes[0]
    odd = [f"{path} ({w}x{h})" for path, (w, h) in zip(paths, sizes) if (w, h) != first]
    if odd:
        listed = ", ".join(odd[:5]) + (f" and {len(odd) - 5} more" if len(odd) > 5 else "")
        raise SceneFormatError(f"{json_path}: images of one split must share one size; {paths[0]} is "
                               f"{first[0]}x{first[1]} but {listed}. Resize them to one resolution (or split them "
                               "into separate scenes).")
