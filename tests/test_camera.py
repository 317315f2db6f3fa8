"""Rendering a radiance field from an arbitrary camera matches rendering the same view of a scene."""
import torch

from fields.datasets import load_scene
from fields.render.camera import PinholeCamera, render_camera
from fields.run.evaluation import render_field_view


def test_render_camera_matches_scene_view(procedural_scene):
    from fields.models import make_field
    from fields.render import OccupancyGrid

    scene = load_scene(procedural_scene, "val")
    torch.manual_seed(0)
    field = make_field("radiance", "hash", aabb=list(scene.aabb), n_levels=4, log2_hashmap_size=10,
                       finest_resolution=64)
    grid = OccupancyGrid(list(scene.aabb), resolution=16)
    grid.mark_all_occupied()
    fx, fy, cx, cy = scene.intrinsics[0].tolist()
    camera = PinholeCamera(scene.c2w[0], scene.width, scene.height, fx, fy, cx, cy)
    ours = render_camera(field, grid, camera, render_step_size=0.05)
    expected = render_field_view(field, grid, scene, 0, 0.05, 0.0, "cpu")
    torch.testing.assert_close(ours["rgb"], expected["rgb"])
    torch.testing.assert_close(ours["depth"], expected["depth"])
    half = render_camera(field, grid, camera.resized(scene.width // 2, scene.height // 2), render_step_size=0.05)
    assert half["rgb"].shape == (scene.height // 2, scene.width // 2, 3)
    assert abs(PinholeCamera.from_fov(scene.c2w[0], 64, 64, 40.0).fov_y_degrees - 40.0) < 1e-6
