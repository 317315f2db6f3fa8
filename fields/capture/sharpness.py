"""Image sharpness as the variance of the Laplacian (blurry frames have little high-frequency energy)."""
from __future__ import annotations

import numpy as np
from PIL import Image

MEASURE_SIZE = 512  # measured on a copy whose longer side is at most this: comparable across resolutions, fast


def sharpness(image: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image (0-255 scale), on a copy at most MEASURE_SIZE px."""
    grey = image.convert("L")
    scale = MEASURE_SIZE / max(grey.size)
    if scale < 1.0:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.BOX)
    pixels = np.asarray(grey, dtype=np.float32)
    if min(pixels.shape) < 3:
        return 0.0
    laplacian = (pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:]
                 - 4.0 * pixels[1:-1, 1:-1])
    return float(laplacian.var())
