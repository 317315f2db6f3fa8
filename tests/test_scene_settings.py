import dataclasses
import math

import numpy as np
import pytest
import torch

from fields.datasets import load_scene
from fields.ops.occupancy_grid import pack_bitfield
from fields.render import OccupancyGrid
from fields.render.scene_settings import choose_render_settings, read_sfm_points, settings_for_run


def test_a_synthetic_scene_keeps_one_level_step_5e3_and_no_cone(procedural_scene):
    scene = load_scene(procedural_scene, "train")
    settings = settings_for_run(scene, procedural_scene)
    box = tuple(scene.aabb.tolist())
    assert (settings.grid_levels, settings.grid_resolution, settings.render_step_size, settings.cone_angle) == (
        1, 128, 5e-3, 0.0)
    assert settings.scene_aabb == box and settings.grid_aabb == box


def test_an_unbounded_capture_gets_instant_ngp_cascades_and_cone_angle(unbounded_capture):
    scene = load_scene(unbounded_capture, "train")
    settings = settings_for_run(scene, unbounded_capture)
    assert settings.grid_levels == 5  # aabb_scale 16: the unit cube, then 2, 4, 8, 16
    assert settings.cone_angle == 1 / 256 and settings.render_step_size == pytest.approx(math.sqrt(3) / 1024)
    assert settings.grid_aabb == (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
    assert settings.scene_aabb == (-7.5, -7.5, -7.5, 8.5, 8.5, 8.5)
    assert settings.grid_resolution % 8 == 0 and settings.grid_levels * settings.grid_resolution**3 <= 128**3
    grid = OccupancyGrid(settings.grid_aabb, settings.grid_resolution, settings.grid_levels)
    assert grid.level_aabbs()[-1].tolist() == list(settings.scene_aabb)  # the coarsest level is the field's box


def test_the_box_grows_to_hold_the_cameras_and_the_sfm_points(unbounded_capture):
    scene = load_scene(unbounded_capture, "train")
    small = dataclasses.replace(scene, aabb=torch.tensor([-0.5, -0.5, -0.5, 1.5, 1.5, 1.5]))  # aabb_scale 2
    # Cameras at up to ~1.56 from the centre (max norm): twice that on each side needs a side of 6.24 -> 8.
    assert choose_render_settings(small).grid_levels == 4
    far = np.random.default_rng(0).uniform(-19.5, 20.5, size=(100, 3))  # points up to 20 from the centre
    grown = choose_render_settings(scene, far)
    assert grown.grid_levels == 7 and grown.scene_aabb[3] - grown.scene_aabb[0] == 64
    assert choose_render_settings(scene, far[:, :] * 0.01).grid_levels == 5  # never shrinks below aabb_scale


def test_explicit_options_win_and_keep_the_scenes_box(unbounded_capture):
    scene = load_scene(unbounded_capture, "train")
    settings = settings_for_run(scene, unbounded_capture, render_step_size=0.01, cone_angle=0.0, grid_levels=1,
                                grid_resolution=64)
    assert (settings.grid_levels, settings.grid_resolution, settings.render_step_size, settings.cone_angle) == (
        1, 64, 0.01, 0.0)
    assert settings.scene_aabb == settings.grid_aabb == tuple(scene.aabb.tolist())
    assert "given" in settings.reason


def test_sfm_points_are_read_into_world_coordinates(unbounded_capture):
    scene = load_scene(unbounded_capture, "train")
    points = read_sfm_points(unbounded_capture, scene.source_to_world)
    assert points.shape[1] == 3 and len(points) > 100
    distance = np.linalg.norm(points - 0.5, axis=1)
    # Objects within 1.1 and the backdrop at 15 scene units, times the capture's scale 0.4.
    assert distance.min() < 0.45 and distance.max() == pytest.approx(6.0, rel=1e-3)
    assert read_sfm_points(unbounded_capture.parent) is None  # no sparse_pc.ply there


def _occupy_like_the_capture(grid: OccupancyGrid) -> None:
    """Marks the cells a trained grid would hold: the objects' region and the backdrop's shell (radius 6)."""
    r = grid.resolution
    cells = torch.arange(grid.levels * r**3)
    level, cell = cells // r**3, cells % r**3
    ijk = torch.stack([cell // (r * r), (cell // r) % r, cell % r], dim=-1)
    boxes = grid.level_aabbs()[level]
    centres = boxes[:, :3] + (ijk + 0.5) * (boxes[:, 3:] - boxes[:, :3]) / r
    distance = (centres - 0.5).norm(dim=-1)
    grid.binary.copy_(((distance < 0.45) | ((distance > 5.5) & (distance < 6.5))).view_as(grid.binary))
    grid.bitfield.copy_(pack_bitfield(grid.binary.view(-1)))


def test_the_cascade_marches_fewer_samples_than_one_level_over_the_whole_box(unbounded_capture):
    scene = load_scene(unbounded_capture, "train")
    origins, directions = scene.c2w[:, :3, 3].contiguous(), (-scene.c2w[:, :3, 2]).contiguous()  # optical axes
    counts = {}
    for name, options in {"fixed": dict(grid_levels=1, grid_resolution=128, render_step_size=5e-3, cone_angle=0.0),
                          "auto": {}}.items():
        s = settings_for_run(scene, unbounded_capture, **options)
        grid = OccupancyGrid(s.grid_aabb, s.grid_resolution, s.grid_levels)
        _occupy_like_the_capture(grid)
        samples = grid.sample(origins, directions, render_step_size=s.render_step_size, cone_angle=s.cone_angle)
        counts[name] = samples.t_starts.numel() / origins.shape[0]
    assert counts["auto"] < 0.6 * counts["fixed"], counts
