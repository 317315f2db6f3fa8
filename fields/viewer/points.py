"""A capture's structure-from-motion points (``sparse_pc.ply``, as apps/process_data.py and nerfstudio write it),
placed in the world the field lives in.

The points are in the coordinates of the capture's transforms.json, the same frame as its camera poses; the scene
loader maps that frame into the world (instant-ngp's scale, axis cycle and offset: ``SceneData.source_to_world``),
so the points go through the same map and land on the field."""
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_POINTS = 100_000  # a browser draws this many points smoothly; SfM clouds can hold millions
DEFAULT_NAME = "sparse_pc.ply"
UNCOLOURED = (200, 200, 200)  # a PLY without red/green/blue


@dataclass
class PointCloud:
    points: np.ndarray  # float32 [N, 3], world coordinates
    colors: np.ndarray  # uint8 [N, 3]
    path: Path
    total: int  # points in the file, before subsampling


def find_point_cloud(scene: Path) -> Path | None:
    """The scene's point cloud file: the ``ply_file_path`` of its transforms*.json (relative to that file), else
    ``sparse_pc.ply`` beside them; None when there is none. ``scene`` is a scene folder or a transforms file."""
    scene = Path(scene)
    folder = scene if scene.is_dir() else scene.parent
    for transforms in [scene] if scene.is_file() else sorted(folder.glob("transforms*.json")):
        try:
            content = json.loads(transforms.read_text())
        except (OSError, ValueError):
            continue  # the scene loader reports a broken transforms file; the points are only an extra
        named = content.get("ply_file_path") if isinstance(content, dict) else None
        if isinstance(named, str) and named:
            return transforms.parent / named
    default = folder / DEFAULT_NAME
    return default if default.is_file() else None


def load_point_cloud(path: Path, source_to_world=None, max_points: int = MAX_POINTS, seed: int = 0) -> PointCloud:
    """Reads a PLY of points (x y z, optionally red green blue), keeps at most ``max_points`` of them (a fixed
    random subset, so every load shows the same points) and maps them by the 4x4 ``source_to_world`` (None:
    identity). Raises ValueError naming the file when it is not a point cloud."""
    import trimesh  # lazy: only scenes with a point cloud need it

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"point cloud {path} does not exist")
    try:
        cloud = trimesh.load(path, process=False)
    except Exception as error:  # trimesh raises many types for a malformed file
        raise ValueError(f"cannot read point cloud {path}: {error}") from None
    if not isinstance(cloud, trimesh.PointCloud) or len(cloud.vertices) == 0:
        raise ValueError(f"{path} holds no point cloud (a PLY of vertices without faces is expected)")
    points = np.asarray(cloud.vertices, np.float64)
    colors = np.asarray(cloud.colors, np.uint8).reshape(-1, 4)[:, :3]  # trimesh: RGBA, or empty without colours
    if len(colors) != len(points):
        colors = np.broadcast_to(np.array(UNCOLOURED, np.uint8), points.shape)
    total = len(points)
    if total > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
        points, colors = points[keep], colors[keep]
    if source_to_world is not None:
        transform = np.asarray(source_to_world, np.float64)
        points = points @ transform[:3, :3].T + transform[:3, 3]
    return PointCloud(points.astype(np.float32), np.ascontiguousarray(colors), path, total)


def scene_points(scene: Path, source_to_world=None, max_points: int = MAX_POINTS) -> PointCloud | None:
    """The SfM points of ``scene`` in world coordinates (``source_to_world``: the scene's
    ``SceneData.source_to_world``), or None when it has none or its file cannot be read (then with a warning:
    the points are an extra, the field is still worth showing)."""
    path = find_point_cloud(scene)
    if path is None:
        return None
    try:
        return load_point_cloud(path, source_to_world, max_points)
    except ValueError as error:
        warnings.warn(f"SfM points not shown: {error}")
        return None
