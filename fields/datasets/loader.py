"""``load_scene``: one entry point that detects the format of a scene on disk."""
from __future__ import annotations

from pathlib import Path

from fields.datasets._files import read_json
from fields.datasets.blender import load_blender
from fields.datasets.errors import SceneFileMissingError
from fields.datasets.ngp import load_ngp, looks_like_ngp
from fields.datasets.scene import SceneData

FORMATS = ("auto", "blender", "ngp")


def detect_format(path: str | Path, split: str = "train") -> str:
    """The format of a scene directory (or transforms file): "blender" or "ngp".

    A lone ``transforms.json`` (or any JSON file given directly) is instant-ngp; a ``transforms_{split}.json`` is
    Blender unless it uses instant-ngp keys (``fl_x``, ``aabb_scale``, ``k1``, ``scale``, ...).
    """
    path = Path(path)
    if path.is_file():
        return "ngp" if looks_like_ngp(read_json(path)) or not path.name.startswith("transforms_") else "blender"
    split_path = path / f"transforms_{split}.json"
    if split_path.is_file():
        return "ngp" if looks_like_ngp(read_json(split_path)) else "blender"
    if not path.is_dir():
        raise SceneFileMissingError(f"Scene directory not found: {path} (find scenes by name with find_scene)")
    if (path / "transforms.json").is_file():
        return "ngp"
    return "blender"  # the Blender loader then says which splits exist


def load_scene(path: str | Path, split: str = "train", downscale: int | None = 1, format: str = "auto",
               device: str = "cpu", cache_dir: str | Path | None = None) -> SceneData:
    """Load ``split`` of the scene at ``path`` (a scene directory or a transforms JSON file).

    ``downscale`` area-averages the images by an integer factor (intrinsics follow); None picks the default for
    training on ``device`` (:func:`fields.datasets.capture_memory.resolve_downscale`: large images are downscaled
    on the CPU, and any capture as far as it must be to fit in memory), and ``SceneData.downscale`` says which.
    A ``downscale`` whose images cannot fit in memory raises SceneTooLargeError before decoding, unless
    ``cache_dir`` names a disk cache of decoded images to memory-map them from (:mod:`fields.datasets.image_cache`;
    decoded on the first load). ``format`` forces "blender" or "ngp" instead of detecting it. Find a scene by name
    first with :func:`fields.datasets.find_scene`.
    """
    if format not in FORMATS:
        raise ValueError(f"load_scene: format must be one of {FORMATS}, got {format!r}")
    if format == "auto":
        format = detect_format(path, split)
    if format == "ngp":
        return load_ngp(path, split, downscale, device=device, cache_dir=cache_dir)
    path = Path(path)
    if path.is_file():
        if path.name != f"transforms_{split}.json":
            raise ValueError(
                f"load_scene: {path} is a Blender-format file but split '{split}' was asked for; pass the scene "
                f"directory {path.parent} and the split instead"
            )
        path = path.parent
    return load_blender(path, split, downscale, device, cache_dir)
