"""Which scene a checkpoint was trained on, found again by every app that needs its views (eval, export, convert,
the viewer, --resume), and a fingerprint that recognises it after the folder was moved or renamed."""
import hashlib
from pathlib import Path
from typing import Optional

from fields.datasets import find_scene


def trained_scene(meta: dict, scene: Optional[str] = None, data_root: Optional[Path] = None) -> Path:
    """The scene asked for; else the folder the checkpoint was trained on, where it was; else found by its name.
    Raises SceneNotFoundError (naming where it looked) when none of them exists."""
    if scene is not None:
        return find_scene(scene, data_root)
    trained_on = meta.get("scene_path")
    if data_root is None and trained_on and Path(trained_on).is_dir():
        return Path(trained_on)
    return find_scene(meta.get("scene") or trained_on or "", data_root)


def scene_fingerprint(scene_path: Path) -> str:
    """Hash of the scene's camera files (its transforms*.json, or the transforms file given itself): the same
    capture under another folder name has the same fingerprint, so --resume can follow a moved scene."""
    scene_path = Path(scene_path)
    files = sorted(scene_path.glob("transforms*.json")) if scene_path.is_dir() else [scene_path]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
