"""Opening what the viewer shows: a trained field from a checkpoint (or a run folder), with the training cameras
of its scene when the scene can still be found. Every failure is a :class:`ViewerError` raised before any server
starts."""
import warnings
from dataclasses import dataclass
from pathlib import Path

from fields.io import run_checkpoint
from fields.viewer.server import ViewerError


@dataclass
class ViewerInput:
    field: object
    grid: object  # the occupancy grid of a radiance field, else None
    meta: dict
    cameras: object  # SceneData of the training split, or None
    checkpoint: Path
    run_dir: Path


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or a run folder holding checkpoints/latest.safetensors."""
    try:
        path = run_checkpoint(path)
    except FileNotFoundError as error:  # a folder without a checkpoint
        raise ViewerError(str(error)) from None
    if path.suffix == "":
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise ViewerError(f"checkpoint not found: {path}; pass the .safetensors file (or the run folder) that "
                          "apps/train_*.py wrote, e.g. outputs/lego/hash/<run>/checkpoints/latest.safetensors")
    return path


def run_folder(checkpoint: Path) -> Path:
    """outputs/<scene>/<field>/<run>/ for <run>/checkpoints/<name>.safetensors, else the file's folder."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def load_viewer_input(path: Path, device: str = "cpu", with_cameras: bool = True) -> ViewerInput:
    from fields.train.checkpointing import load_field

    checkpoint = resolve_checkpoint(path)
    try:
        field, grid, meta = load_field(checkpoint, device)
    except Exception as error:  # corrupt file, foreign format, mismatched weights: all mean "not viewable"
        raise ViewerError(f"cannot load {checkpoint}: {error}") from None
    return ViewerInput(field, grid, meta, _training_cameras(meta) if with_cameras else None, checkpoint,
                       run_folder(checkpoint))


def _training_cameras(meta: dict):
    """The training split of the checkpoint's scene, or None (with a warning) when it is gone."""
    scene_path = meta.get("scene_path")
    if not scene_path:
        return None
    from fields.datasets import load_scene

    try:
        return load_scene(scene_path, "train")
    except Exception as error:
        warnings.warn(f"training cameras not shown: scene {scene_path} could not be loaded ({error})")
        return None
