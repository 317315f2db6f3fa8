import math

import numpy as np
import pytest
import torch

from fields.datasets import image_rays, load_scene
from fields.viewer.cameras import (c2w_from_viser, matrix_to_quaternion, pinhole_from_viser, quaternion_to_matrix,
                                   viser_from_c2w)


def random_rotations(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return [quaternion_to_matrix(v) for v in q]


def test_quaternion_round_trip_covers_every_branch():
    rotations = random_rotations(200) + [np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]),
                                         np.diag([-1.0, -1.0, 1.0]), np.eye(3)]
    for rotation in rotations:
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        assert np.allclose(quaternion_to_matrix(matrix_to_quaternion(rotation)), rotation, atol=1e-9)


def test_viser_pose_round_trip():
    for rotation in random_rotations(20, seed=1):
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = rotation, np.random.default_rng(2).normal(size=3)
        wxyz, position = viser_from_c2w(c2w)
        assert np.allclose(c2w_from_viser(wxyz, position), c2w, atol=1e-9)


def test_identity_viser_camera_looks_down_world_plus_z():
    # viser (OpenCV): identity rotation looks along +Z with image-down along +Y.
    camera = pinhole_from_viser([1, 0, 0, 0], [0, 0, 0], math.radians(60), 9, 9)
    _, directions = camera.rays()
    centre = directions.reshape(9, 9, 3)[4, 4]
    below = directions.reshape(9, 9, 3)[8, 4]
    assert torch.allclose(centre, torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    assert below[1] > 0  # pixels further down the image look towards +Y


def test_a_viser_camera_at_a_training_view_sees_that_view(procedural_scene):
    scene = load_scene(procedural_scene, "train")
    for index in (0, 5, 11):
        wxyz, position = viser_from_c2w(scene.c2w[index].numpy())
        fx, fy, cx, cy = scene.intrinsics[index].tolist()
        assert cx == scene.width / 2 and cy == scene.height / 2 and fx == pytest.approx(fy)
        camera = pinhole_from_viser(wxyz, position, 2 * math.atan(0.5 * scene.height / fy), scene.width,
                                    scene.height)
        origins, directions = camera.rays()
        expected_origins, expected_directions = image_rays(scene, index)
        assert torch.allclose(origins, expected_origins.reshape(-1, 3), atol=1e-5)
        assert torch.allclose(directions, expected_directions.reshape(-1, 3), atol=1e-5)


def test_browser_view_ignores_echoes_and_stale_reports_of_a_connecting_browser():
    from fields.viewer.cameras import BrowserView

    opening = (np.array([0.5, -0.5, 0.5, 0.5]), np.array([0.0, -4.0, 1.0]), 0.7, 1200, 800)
    elsewhere = (np.array([1.0, 0.0, 0.0, 0.0]), np.array([3.0, 3.0, 3.0]), 0.7, 1200, 800)
    view = BrowserView(opening, settle_seconds=60.0)
    assert not view.report(elsewhere)  # the camera it held before it applied the opening view: stale
    assert view.view is opening
    echo = (-opening[0] + 1e-7, opening[1] + 1e-6, opening[2], 1200, 800)  # float32 rounding, q and -q
    assert not view.report(echo)
    assert view.report(elsewhere)  # the browser has shown the opening view: from now on a move is a move
    assert view.view is elsewhere
    assert view.report((elsewhere[0], elsewhere[1], elsewhere[2], 600, 800))  # a resized canvas
    assert view.aspect() == 0.75

    # A browser that never shows the opening view (e.g. one that restores its own camera): once settled, its
    # camera as it is then becomes the view.
    view = BrowserView(opening, settle_seconds=60.0)
    assert not view.report(elsewhere)
    assert view.settle(elsewhere) and view.view is elsewhere
    camera = view.camera(30, 20)
    assert (camera.width, camera.height) == (30, 20)
    assert np.allclose(camera.c2w[:3, 3].numpy(), elsewhere[1])
