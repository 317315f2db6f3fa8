"""Memory a capture's decoded images need, whether that fits, and the default downscale of large images.

Scenes keep their images decoded as uint8 RGBA (4 bytes a pixel, ``SceneData.images``), so a split needs
``count x H x W x 4`` bytes at its downscaled size: 1000 photos of 1920x1080 need 8.3 GB, a quarter of that at
``--downscale 2``. The loaders check this against the memory available before decoding anything, so a capture that
cannot fit stops at once with the factor that would fit, instead of swapping or being killed halfway through.
"""
from __future__ import annotations

from pathlib import Path

from fields.datasets.errors import SceneTooLargeError

BYTES_PER_PIXEL = 4  # uint8 RGBA
TRAINING_HEADROOM_BYTES = 2 << 30  # kept free for everything else a training run allocates (field, optimizer, steps)
CPU_MAX_PIXELS = 1_600_000  # default CPU training and rendering resolution cap (lego is 0.64 MP, 1080p 2.07 MP)
MAX_DOWNSCALE = 64


def decoded_bytes(count: int, width: int, height: int, downscale: int = 1) -> int:
    """Bytes of ``count`` images of ``width`` x ``height`` once decoded and downscaled (rows and columns beyond a
    multiple of ``downscale`` are cropped, as :func:`fields.datasets._files.downscale_rgba` does)."""
    return count * (height // downscale) * (width // downscale) * BYTES_PER_PIXEL


def available_memory_bytes() -> int | None:
    """Memory the system can give this process without swapping: psutil's ``available`` where psutil is
    installed, else ``MemAvailable`` from /proc/meminfo; None where neither exists (the check is then skipped)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_downscale(width: int, height: int, device: str = "cpu") -> int:
    """The downscale used when none is given: 1 on a GPU; on the CPU the smallest integer factor that brings an
    image to at most CPU_MAX_PIXELS (1920x1080 -> 2, 4032x3024 -> 3, 800x800 -> 1), since CPU training steps and
    full-resolution renders (evaluation, the viewer) are too slow above it."""
    if str(device).startswith("cuda"):
        return 1
    factor = 1
    while (width // factor) * (height // factor) > CPU_MAX_PIXELS and factor < min(width, height):
        factor += 1
    return factor


def fitting_downscale(count: int, width: int, height: int, available: int, start: int = 1) -> int | None:
    """The smallest factor from ``start`` whose images fit in ``available`` bytes beside the training headroom;
    None when even MAX_DOWNSCALE does not fit."""
    budget = available - TRAINING_HEADROOM_BYTES
    for factor in range(start, min(MAX_DOWNSCALE, width, height) + 1):
        if decoded_bytes(count, width, height, factor) <= budget:
            return factor
    return None


def check_images_fit(count: int, width: int, height: int, downscale: int, where: str | Path,
                     available: int | None = None) -> None:
    """Raises SceneTooLargeError, before any image is decoded, when ``count`` images of ``width`` x ``height`` at
    ``downscale`` do not fit in the available memory (``available`` bytes, measured when None) less the training
    headroom. The message gives the size needed and the factor that would fit."""
    available = available_memory_bytes() if available is None else available
    if available is None:
        return
    needed = decoded_bytes(count, width, height, downscale)
    if needed <= available - TRAINING_HEADROOM_BYTES:
        return
    fits = fitting_downscale(count, width, height, available, start=downscale + 1)
    advice = (f"pass --downscale {fits} ({_gb(decoded_bytes(count, width, height, fits))} GB)"
              if fits is not None else "use fewer images")
    raise SceneTooLargeError(
        f"{where}: {count} images of {width}x{height} at downscale {downscale} need {_gb(needed)} GB decoded "
        f"(4 bytes a pixel), but only {_gb(available)} GB of memory is available and "
        f"{_gb(TRAINING_HEADROOM_BYTES)} GB of it is kept for training; {advice}, or keep the decoded images in "
        f"a disk cache (--image-cache DIR), or free memory and retry"
    )


def resolve_downscale(downscale: int | None, count: int, width: int, height: int, where: str | Path,
                      device: str = "cpu", available: int | None = None, check_memory: bool = True) -> int:
    """The factor to load with. A given ``downscale`` is kept (SceneTooLargeError if it cannot fit); None means the
    default: :func:`default_downscale`, raised further while the images would not fit in memory. Without
    ``check_memory`` (images memory-mapped from a disk cache) memory plays no part."""
    if downscale is not None:
        if downscale < 1 or int(downscale) != downscale:
            raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
        if check_memory:
            check_images_fit(count, width, height, int(downscale), where, available)
        return int(downscale)
    factor = default_downscale(width, height, device)
    available = available_memory_bytes() if available is None and check_memory else available
    if check_memory and available is not None:
        factor = fitting_downscale(count, width, height, available, start=factor) or factor
        check_images_fit(count, width, height, factor, where, available)
    return factor


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f}"
