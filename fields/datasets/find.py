"""Find a scene by name (``lego``) or path, in the data roots the apps search."""
from __future__ import annotations

import os
from pathlib import Path

from fields.datasets.errors import SceneNotFoundError

ENV_VAR = "FIELDS_DATA_ROOT"
SYNTHETIC_SCENES = ("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship")
REPO_ROOT = Path(__file__).resolve().parents[2]  # the parent of the `fields` package directory

HOW_TO_GET_DATA = (
    "To get the NeRF-synthetic scenes, download nerf_synthetic.zip from the NeRF authors' data release (linked "
    "from https://github.com/bmild/nerf) and unpack it so that <data root>/nerf_synthetic/lego/transforms_train.json "
    f"exists; then pass --data-root <data root>, set {ENV_VAR}=<data root>, or put it in ./data. Real captures: "
    "a directory with an instant-ngp transforms.json (e.g. from instant-ngp's colmap2nerf.py) works the same way."
)


def is_scene_dir(path: Path) -> bool:
    """A directory with a ``transforms.json`` or any ``transforms_{split}.json``."""
    return path.is_dir() and ((path / "transforms.json").is_file() or any(path.glob("transforms_*.json")))


def data_roots(data_root: str | Path | None = None) -> list[Path]:
    """The roots searched, in order: ``data_root``, $FIELDS_DATA_ROOT, ./data, <repo>/data, ../shared/data from the
    current directory, then from the repository root. Duplicates are dropped."""
    candidates = []
    if data_root is not None:
        candidates.append(Path(data_root))
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    cwd = Path.cwd()
    candidates += [cwd / "data", REPO_ROOT / "data"]
    candidates += [cwd.parent / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    return list(dict.fromkeys(path.expanduser().absolute() for path in candidates))


def find_scene(name_or_path: str | Path, data_root: str | Path | None = None) -> Path:
    """The directory of the scene ``name_or_path``.

    A path to a scene directory (or to its transforms JSON file) is returned as is. Otherwise the name is looked
    up under each data root, as ``<root>/<name>`` and, for the eight NeRF-synthetic names,
    ``<root>/nerf_synthetic/<name>``. Raises :class:`SceneNotFoundError` naming every place searched.
    """
    direct = Path(name_or_path).expanduser()
    if (direct.is_file() and direct.suffix == ".json") or is_scene_dir(direct):
        return direct.absolute()

    if data_root is not None and not Path(data_root).expanduser().is_dir():
        raise SceneNotFoundError(f"--data-root {data_root} is not a directory; pass the folder that holds the "
                                 f"scenes (e.g. <data root>/nerf_synthetic/lego)")
    searched: list[str] = [f"{direct.absolute()} (as a path)"]
    roots = [] if direct.is_absolute() else data_roots(data_root)  # an absolute path is only ever itself
    for root in roots:
        for candidate in _candidates(root, str(name_or_path)):
            if is_scene_dir(candidate):
                return candidate
            note = "exists but has no transforms*.json" if candidate.is_dir() else "missing"
            searched.append(f"{candidate} ({note})")
    raise SceneNotFoundError(f"Scene '{name_or_path}' not found. Searched:\n  " + "\n  ".join(searched) + "\n"
                             + HOW_TO_GET_DATA)


def _candidates(root: Path, name: str) -> list[Path]:
    candidates = [root / name]
    if name in SYNTHETIC_SCENES:
        candidates.append(root / "nerf_synthetic" / name)
    return candidates
