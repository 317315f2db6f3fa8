"""Opening what the viewer shows: a trained field from a checkpoint (or a run folder), with the training cameras
of its scene when the scene can still be found. Every failure is a :class:`ViewerError` raised before any server
starts."""
import warnings
from dataclasses import dataclass
from pathlib import Path

from fields.run import RunFolder, checkpoint_path, load_field, trained_scene
from fields.viewer.server import ViewerError


@dataclass
class ViewerInput:
    field: object
    grid: object  # the occupancy grid of a radiance field, else None
    meta: dict
    cameras: object  # SceneData of the training split, or None
    checkpoint: Path
    run_dir: Path


def load_viewer_input(path: Path, device: str = "cpu", with_cameras: bool = True) -> ViewerInput:
    try:
        checkpoint = checkpoint_path(path)
    except FileNotFoundError as error:  # a missing file, or a folder without a checkpoint
        raise ViewerError(str(error)) from None
    try:
        field, grid, meta = load_field(checkpoint, device)
    except Exception as error:  # corrupt file, foreign format, mismatched weights: all mean "not viewable"
        raise ViewerError(f"cannot load {checkpoint}: {error}") from None
    return ViewerInput(field, grid, meta, _training_cameras(meta) if with_cameras else None, checkpoint,
                       RunFolder.of(checkpoint).path)


def _training_cameras(meta: dict):
    """The training split of the checkpoint's scene, or None (with a warning) when it is gone."""
    if not (meta.get("scene_path") or meta.get("scene")):
        return None  # an image or SDF field
    from fields.datasets import load_scene

    try:
        return load_scene(trained_scene(meta), "train")
    except Exception as error:
        warnings.warn(f"training cameras not shown: the scene {meta.get('scene_path')} could not be loaded ({error})")
        return None
