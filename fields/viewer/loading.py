"""Opening what the viewer shows: a trained field from a checkpoint (or a run folder), with the training cameras
and the structure-from-motion points of its scene when the scene can still be found. Every failure to load the
field is a :class:`ViewerError` raised before any server starts; a scene that cannot be read only warns."""
import warnings
from dataclasses import dataclass
from pathlib import Path

from fields.run import RunFolder, checkpoint_path, load_field, trained_scene
from fields.viewer.points import PointCloud, scene_points
from fields.viewer.server import ViewerError


@dataclass
class ViewerInput:
    field: object
    grid: object  # the occupancy grid of a radiance field, else None
    meta: dict
    cameras: object  # SceneData of the training split, or None
    checkpoint: Path
    run_dir: Path
    points: PointCloud | None = None  # the scene's SfM points in world coordinates, or None


def load_viewer_input(path: Path, device: str = "cpu", with_cameras: bool = True) -> ViewerInput:
    """``with_cameras=False`` skips reading the scene: no training cameras and no SfM points (whose world
    transform comes with the cameras)."""
    try:
        checkpoint = checkpoint_path(path)
    except FileNotFoundError as error:  # a missing file, or a folder without a checkpoint
        raise ViewerError(str(error)) from None
    try:
        field, grid, meta = load_field(checkpoint, device)
    except Exception as error:  # corrupt file, foreign format, mismatched weights: all mean "not viewable"
        raise ViewerError(f"cannot load {checkpoint}: {error}") from None
    cameras, points = _scene(meta) if with_cameras else (None, None)
    return ViewerInput(field, grid, meta, cameras, checkpoint, RunFolder.of(checkpoint).path, points)


def _scene(meta: dict):
    """(training split as SceneData, PointCloud) of the checkpoint's scene; None for what is missing (with a
    warning when the scene or its point cloud cannot be read)."""
    if not (meta.get("scene_path") or meta.get("scene")):
        return None, None  # an image or SDF field
    from fields.datasets import load_scene

    try:
        scene = trained_scene(meta)
        cameras = load_scene(scene, "train", downscale=None)  # poses and thumbnails only
    except Exception as error:
        warnings.warn(f"training cameras not shown: the scene {meta.get('scene_path')} could not be loaded ({error})")
        return None, None
    return cameras, scene_points(scene, cameras.source_to_world)
