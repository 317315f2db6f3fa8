import json
import time

import numpy as np
import torch

from fields.datasets import load_scene, make_procedural_scene
from fields.datasets.procedural import OBJECTS, Box, Sphere


def _object_bounds(obj):
    if isinstance(obj, Sphere):
        return np.array(obj.centre) - obj.radius, np.array(obj.centre) + obj.radius
    reach = np.linalg.norm(obj.half_extent)  # a bound for any rotation
    return np.array(obj.centre) - reach, np.array(obj.centre) + reach


def test_objects_fit_the_scene_box():
    for obj in OBJECTS:
        low, high = _object_bounds(obj)
        assert (low > -1.5).all() and (high < 1.5).all(), obj
    assert any(isinstance(obj, Box) for obj in OBJECTS) and len({obj.colour for obj in OBJECTS}) == len(OBJECTS)


def test_scene_layout_and_content(procedural_dir):
    assert sorted(p.name for p in procedural_dir.glob("transforms_*.json")) == [
        "transforms_test.json", "transforms_train.json", "transforms_val.json"]
    scene = load_scene(procedural_dir, "train")
    alpha = scene.images[..., 3]
    assert bool((alpha[:, 0, :] == 0).all()) and bool((alpha[:, :, 0] == 0).all())  # transparent background
    assert (alpha == 255).any() and ((alpha > 0) & (alpha < 255)).any()  # opaque objects, antialiased edges
    coverage = (alpha.float() / 255).mean(dim=(1, 2))
    assert bool((coverage > 0.1).all()) and bool((coverage < 0.6).all())
    assert torch.allclose(scene.c2w[:, :3, 3].norm(dim=-1), torch.full((12,), 4.0))
    hues = scene.images[..., :3][alpha == 255].float()
    assert (hues.max(dim=-1).values - hues.min(dim=-1).values).mean() > 60  # coloured, not grey


def test_object_centres_project_onto_opaque_pixels(procedural_dir):
    """Projecting with the Blender/OpenGL convention by hand lands inside the rendered objects in every view."""
    scene = load_scene(procedural_dir, "val")
    centres = torch.tensor([obj.centre for obj in OBJECTS])
    for index in range(scene.num_images):
        world_to_camera = torch.linalg.inv(scene.c2w[index])
        camera = centres @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        fx, fy, cx, cy = scene.intrinsics[index]
        u = cx + fx * camera[:, 0] / -camera[:, 2]
        v = cy - fy * camera[:, 1] / -camera[:, 2]
        for column, row in zip(u.long().tolist(), v.long().tolist()):
            if 0 <= column < scene.width and 0 <= row < scene.height:
                assert int(scene.images[index, row, column, 3]) == 255


def test_deterministic_from_the_seed(tmp_path):
    first = make_procedural_scene(tmp_path / "a", n_train=3, n_val=1, n_test=0, size=24, seed=5)
    again = make_procedural_scene(tmp_path / "b", n_train=3, n_val=1, n_test=0, size=24, seed=5)
    other = make_procedural_scene(tmp_path / "c", n_train=3, n_val=1, n_test=0, size=24, seed=6)
    assert not (first / "transforms_test.json").exists()
    for name in ("transforms_train.json", "train/r_2.png", "val/r_0.png"):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    assert _train_poses(first) != _train_poses(other)


def _train_poses(root):
    return [frame["transform_matrix"] for frame in json.loads((root / "transforms_train.json").read_text())["frames"]]


def test_fast_enough_for_unit_tests(tmp_path):
    start = time.process_time()
    make_procedural_scene(tmp_path, n_train=20, n_val=4, n_test=4, size=64)
    assert time.process_time() - start < 5.0  # CPU time, so a busy machine does not fail it
