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


def test_the_step_and_density_bias_follow_the_size_of_the_box(procedural_scene, unbounded_capture):
    synthetic = load_scene(procedural_scene, "train")  # NeRF-synthetic's box of side 3: the reference scale
    reference = choose_render_settings(synthetic)
    assert (reference.render_step_size, reference.density_bias) == (5e-3, -1.0)
    unit_box = dataclasses.replace(synthetic, source_format="ngp", aabb=torch.tensor([0.0, 0, 0, 1, 1, 1]))
    small = choose_render_settings(unit_box)  # an instant-ngp capture with aabb_scale 1: 3 times smaller
    assert small.render_step_size == pytest.approx(5e-3 / 3)
    assert small.density_bias == pytest.approx(-1.0 + math.log(3.0))
    unbounded = choose_render_settings(load_scene(unbounded_capture, "train"))  # a box of side 16
    assert unbounded.density_bias == pytest.approx(-1.0 + math.log(3.0 / 16.0))


def test_a_scene_drawn_three_times_smaller_renders_the_same_with_its_settings(procedural_scene):
    from fields.models import make_field
    from fields.render.volume import render_rays

    synthetic = load_scene(procedural_scene, "train")
    scaled = dataclasses.replace(synthetic, source_format="ngp", aabb=synthetic.aabb / 3.0)
    origins, directions = synthetic.c2w[:8, :3, 3].contiguous(), (-synthetic.c2w[:8, :3, 2]).contiguous()
    rgb = {}
    for name, scene, scale in (("reference", synthetic, 1.0), ("small", scaled, 1.0 / 3.0)):
        settings = choose_render_settings(scene)
        torch.manual_seed(0)  # the same weights: the field sees box-normalised points either way
        field = make_field("radiance", "hash", aabb=list(settings.scene_aabb), density_bias=settings.density_bias,
                           log2_hashmap_size=12, finest_resolution=64)
        grid = OccupancyGrid(settings.grid_aabb, 16, 1)
        grid.binary.fill_(True)
        grid.bitfield.copy_(pack_bitfield(grid.binary.view(-1)))
        with torch.no_grad():
            rgb[name] = render_rays(field, grid, origins * scale, directions, torch.ones(3),
                                    render_step_size=settings.render_step_size).rgb
    assert not torch.allclose(rgb["reference"], torch.ones(3), atol=0.05)  # the rays see the field, not the background
    torch.testing.assert_close(rgb["small"], rgb["reference"], atol=2e-3, rtol=0)
