"""The viewer shows a capture's SfM points (sparse_pc.ply) in the world the field lives in (issue 24)."""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from fields.models import make_field
from fields.render import OccupancyGrid
from fields.run.checkpoint import save_training_state
from fields.viewer import Viewer
from fields.viewer.loading import load_viewer_input
from fields.viewer.points import find_point_cloud, load_point_cloud, scene_points

SCALE, OFFSET = 0.25, np.array([0.5, 0.4, 0.6])  # the capture's instant-ngp map into the world


def ngp_capture(procedural_scene: Path, folder: Path, ply_name: str | None = "sparse_pc.ply",
                ply_key: str | None = None) -> tuple[Path, np.ndarray]:
    """A capture as apps/process_data.py writes one: an instant-ngp transforms.json (with a scale and an offset, so
    that the file's frame is not the world) over the procedural scene's images, and a coloured PLY of points in
    the file's frame: the camera centres and a cloud around the origin. Returns (folder, the points)."""
    folder.mkdir(parents=True)
    blender = json.loads((procedural_scene / "transforms_train.json").read_text())
    frames = [{"file_path": os.path.relpath(procedural_scene / f"{frame['file_path']}.png", folder),
               "transform_matrix": frame["transform_matrix"]} for frame in blender["frames"]]
    content = {"camera_angle_x": blender["camera_angle_x"], "scale": SCALE, "offset": OFFSET.tolist(),
               "aabb_scale": 2, "frames": frames}
    if ply_key is not None:
        content["ply_file_path"] = ply_key
    (folder / "transforms.json").write_text(json.dumps(content))
    centres = np.array([frame["transform_matrix"] for frame in blender["frames"]])[:, :3, 3]
    cloud = np.random.default_rng(0).uniform(-1, 1, size=(200, 3))
    points = np.concatenate([centres, cloud])
    colors = np.random.default_rng(1).integers(0, 256, size=(len(points), 3)).astype(np.uint8)
    if ply_name is not None:
        (folder / ply_name).parent.mkdir(parents=True, exist_ok=True)
        trimesh.PointCloud(points, colors=colors).export(folder / ply_name)
    return folder, points


def json_to_world(points: np.ndarray) -> np.ndarray:
    """instant-ngp's map, written out: scale, then ngp (x, y, z) = json (y, z, x), then the offset."""
    return SCALE * points[:, [1, 2, 0]] + OFFSET


def test_points_land_in_the_world_of_the_cameras(procedural_scene, tmp_path):
    from fields.datasets import load_scene

    folder, points = ngp_capture(procedural_scene, tmp_path / "capture")
    cameras = load_scene(folder, "all")
    assert find_point_cloud(folder) == folder / "sparse_pc.ply"
    cloud = scene_points(folder, cameras.source_to_world)
    assert cloud.total == len(points) and cloud.points.dtype == np.float32
    np.testing.assert_allclose(cloud.points, json_to_world(points), atol=1e-5)
    # The PLY's first points are the camera centres: in the world they sit where the loaded cameras are.
    np.testing.assert_allclose(cloud.points[:cameras.num_images], cameras.c2w[:, :3, 3].numpy(), atol=1e-5)
    original = trimesh.load(folder / "sparse_pc.ply", process=False)
    np.testing.assert_array_equal(cloud.colors, np.asarray(original.colors)[:, :3])


def test_transforms_json_names_the_point_cloud(procedural_scene, tmp_path):
    folder, points = ngp_capture(procedural_scene, tmp_path / "capture", ply_name="colmap/points.ply",
                                 ply_key="colmap/points.ply")
    trimesh.PointCloud(np.zeros((3, 3))).export(folder / "sparse_pc.ply")  # a decoy: the named file wins
    assert find_point_cloud(folder) == folder / "colmap" / "points.ply"
    assert find_point_cloud(folder / "transforms.json") == folder / "colmap" / "points.ply"
    assert len(scene_points(folder).points) == len(points)


def test_a_scene_without_points_shows_none_and_a_broken_one_warns(procedural_scene, tmp_path):
    assert find_point_cloud(procedural_scene) is None  # NeRF-synthetic style: no SfM points
    folder, _ = ngp_capture(procedural_scene, tmp_path / "missing", ply_name=None, ply_key="gone.ply")
    with pytest.warns(UserWarning, match="SfM points not shown: point cloud .*gone.ply does not exist"):
        assert scene_points(folder) is None
    mesh_folder, _ = ngp_capture(procedural_scene, tmp_path / "mesh", ply_name=None)
    trimesh.creation.box().export(mesh_folder / "sparse_pc.ply")
    with pytest.warns(UserWarning, match="holds no point cloud"):
        assert scene_points(mesh_folder) is None


def test_large_clouds_are_subsampled_the_same_way_every_time(tmp_path):
    points = np.random.default_rng(2).normal(size=(5000, 3))
    trimesh.PointCloud(points).export(tmp_path / "big.ply")  # no colours: drawn grey
    first = load_point_cloud(tmp_path / "big.ply", max_points=1000)
    again = load_point_cloud(tmp_path / "big.ply", max_points=1000)
    assert first.total == 5000 and len(first.points) == 1000
    np.testing.assert_array_equal(first.points, again.points)
    # A subset of the file's points, each one kept once.
    matches = np.abs(first.points[:, None, :] - points[None].astype(np.float32)).max(-1) < 1e-6
    assert (matches.sum(1) == 1).all() and len(set(matches.argmax(1))) == 1000
    assert (first.colors == 200).all()


def test_the_viewer_of_a_checkpoint_shows_its_scene_points(procedural_scene, tmp_path, free_port):
    folder, points = ngp_capture(procedural_scene, tmp_path / "capture")
    torch.manual_seed(0)
    field = make_field("radiance", "mlp", aabb=[-0.5, -0.5, -0.5, 1.5, 1.5, 1.5])
    grid = OccupancyGrid(field.aabb.tolist(), resolution=8)
    checkpoint = tmp_path / "run" / "checkpoints" / "latest.safetensors"
    save_training_state(checkpoint, field, grid, torch.optim.Adam(field.parameters()),
                        {"step": 0, "scene": "capture", "scene_path": str(folder)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the scene and its points load without complaint
        loaded = load_viewer_input(checkpoint)
    np.testing.assert_allclose(loaded.points.points, json_to_world(points), atol=1e-5)
    assert load_viewer_input(checkpoint, with_cameras=False).points is None

    viewer = Viewer(loaded.field, loaded.grid, cameras=loaded.cameras, points=loaded.points, port=free_port,
                    max_resolution=32, preview_resolution=8, output_dir=tmp_path / "viewer", verbose=False)
    try:
        handle = viewer.points_handle
        # viser sends positions as float16: about 3 significant digits.
        np.testing.assert_allclose(np.asarray(handle.points, np.float32), json_to_world(points), atol=2e-3)
        np.testing.assert_array_equal(handle.colors, loaded.points.colors)
        assert viewer.gui.show_points.value and not viewer.gui.show_points.disabled
        viewer.gui.show_points.value = False
        assert not handle.visible
    finally:
        viewer.close()
