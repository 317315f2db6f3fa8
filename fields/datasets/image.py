"""Images as training signals: PNG/JPEG (8/16-bit) and EXR (linear float), as [H, W, 3] float32 tensors."""
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch


class ImageLoadError(ValueError):
    """An image that is missing, unreadable or of an unsupported layout."""


def load_image(path: str | Path) -> torch.Tensor:
    """[H, W, 3] float32. Integer images are scaled to [0, 1]; EXR values are kept as stored (linear). Greyscale is
    repeated to three channels; an alpha channel is composited onto white, as for NeRF-synthetic."""
    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise ImageLoadError(f"image {path} {state}; pass --image PATH to a PNG, JPEG or EXR file")
    try:
        array = np.asarray(iio.imread(path))
    except Exception as error:  # imageio raises many types for corrupt or unknown files
        raise ImageLoadError(f"cannot read image {path}: it is not a PNG, JPEG or EXR file that can be decoded "
                             f"({type(error).__name__}); check the file, or convert it to PNG") from error
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / np.iinfo(array.dtype).max
    array = array.astype(np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or min(array.shape[:2]) < 2:
        raise ImageLoadError(f"image {path} has shape {list(array.shape)}; expected H x W with 1 to 4 channels")
    if array.shape[-1] in (2, 4):  # grey+alpha or rgba: composite onto white
        alpha = array[..., -1:]
        array = array[..., :-1] * alpha + (1.0 - alpha)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if not np.isfinite(array).all():
        raise ImageLoadError(f"image {path} contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(array))
