"""Importing a folder of photographs into a scene's ``images/`` folder.

Each file is decoded in full (so truncated or corrupt files are found here, not halfway through SfM), turned upright
by its EXIF orientation, and made RGB (an alpha channel is composited over white). Files that need no change are
copied byte for byte; others are re-encoded (JPEG sources as JPEG at quality 95, the rest as PNG). HEIC/HEIF files
are read when the ``pillow-heif`` decoder is installed. All imported images must share one size, the one most images
have: the others are rejected, since one shared camera (and the scene loaders) need a single resolution.
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from fields.capture.errors import CaptureError
from fields.capture.sharpness import sharpness
from fields.export.writers import atomic_output

PLAIN_EXTENSIONS = (".jpg", ".jpeg", ".png")
HEIC_EXTENSIONS = (".heic", ".heif")
EXIF_ORIENTATION = 0x0112
JPEG_QUALITY = 95


@dataclass(frozen=True)
class ImportedImage:
    name: str  # file name inside images/
    source: str  # file name in the input folder
    width: int
    height: int
    sharpness: float


@dataclass(frozen=True)
class Rejected:
    name: str
    reason: str


def heic_supported() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def natural_key(text: str) -> list:
    """Sort key that orders frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def list_images(folder: Path) -> list[Path]:
    """The image files (by extension) directly inside ``folder``, in natural order."""
    if not folder.is_dir():
        raise CaptureError(f"--images {folder} is not a folder; pass the folder that holds the photographs")
    extensions = PLAIN_EXTENSIONS + HEIC_EXTENSIONS
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions]
    if not files:
        raise CaptureError(f"no images in {folder}: expected .jpg, .jpeg, .png (or .heic with pillow-heif) files "
                           "directly inside it")
    return sorted(files, key=lambda p: natural_key(p.name))


def import_images(files: list[Path], images_dir: Path, progress=None) -> tuple[list[ImportedImage], list[Rejected]]:
    """Decode ``files`` and write the usable ones into ``images_dir``; returns (imported, rejected with reasons).

    Each image is written as soon as it is decoded (one image in memory at a time); those whose size differs from
    the most common one are removed again at the end.
    """
    images_dir.mkdir(parents=True, exist_ok=True)
    can_read_heic = heic_supported()
    written: list[ImportedImage] = []
    rejected: list[Rejected] = []
    taken: set[str] = set()
    for path in files:
        if path.suffix.lower() in HEIC_EXTENSIONS and not can_read_heic:
            rejected.append(Rejected(path.name, "HEIC needs a decoder: pip install pillow-heif, or convert to JPEG"))
        else:
            image, unchanged, error = _decode(path)
            if image is None:
                rejected.append(Rejected(path.name, error))
            else:
                name = _write(path, image, unchanged, images_dir, taken)
                written.append(ImportedImage(name, path.name, image.width, image.height, sharpness(image)))
        if progress is not None:
            progress.update(1)
    if not written:
        return [], rejected
    (width, height), _ = Counter((item.width, item.height) for item in written).most_common(1)[0]
    imported = []
    for item in written:
        if (item.width, item.height) == (width, height):
            imported.append(item)
        else:
            (images_dir / item.name).unlink()
            rejected.append(Rejected(item.source, f"size {item.width}x{item.height} differs from the "
                                                  f"{width}x{height} of most images"))
    return imported, rejected


def _decode(path: Path) -> tuple[Image.Image | None, bool, str]:
    """(upright RGB image, whether it equals the file's own pixels, "") or (None, False, why it cannot be used)."""
    try:
        with Image.open(path) as opened:
            opened.load()  # raises on truncated data
            upright = ImageOps.exif_transpose(opened)
            rotated = opened.getexif().get(EXIF_ORIENTATION, 1) not in (1, None)
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            if has_alpha:
                rgba = upright.convert("RGBA")
                rgb = Image.new("RGB", rgba.size, (255, 255, 255))
                rgb.paste(rgba, mask=rgba.getchannel("A"))
            else:
                rgb = upright.convert("RGB")
            unchanged = opened.format in ("JPEG", "PNG") and not rotated and not has_alpha and \
                opened.mode in ("RGB", "L")
            return rgb, unchanged, ""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, False, f"cannot decode: {error}"


def _write(source: Path, image: Image.Image, unchanged: bool, images_dir: Path, taken: set[str]) -> str:
    """Write one image into ``images_dir`` (a byte copy when ``unchanged``) and return its new file name."""
    jpeg_source = source.suffix.lower() in (".jpg", ".jpeg")
    suffix = source.suffix if unchanged else (".jpg" if jpeg_source else ".png")
    name = source.stem + suffix
    counter = 2
    while name in taken:  # e.g. a.heic and a.png would both become a.png
        name = f"{source.stem}-{counter}{suffix}"
        counter += 1
    taken.add(name)
    with atomic_output(images_dir / name) as temporary:
        if unchanged:
            shutil.copyfile(source, temporary)
        elif suffix == ".jpg":
            image.save(temporary, format="JPEG", quality=JPEG_QUALITY)
        else:
            image.save(temporary, format="PNG")
    return name
