import json

import numpy as np
import pytest
import torch

from fields.export.camera_path import CameraPathError, load_camera_path, orbit_path, save_camera_path


def test_a_saved_path_loads_back_with_the_same_cameras(tmp_path):
    path = orbit_path((0.1, 0.2, 0.3), 4.0, frames=5, width=64, height=48, fov_y_degrees=50.0, fps=24.0)
    save_camera_path(tmp_path / "path.json", path)
    data = json.loads((tmp_path / "path.json").read_text())
    assert data["resolution"] == [64, 48] and data["fps"] == 24.0 and len(data["frames"]) == 5
    assert np.array(data["frames"][0]["camera_to_world"]).shape == (4, 4)
    loaded = load_camera_path(tmp_path / "path.json")
    assert loaded.resolution == (64, 48) and loaded.fps == 24.0
    for a, b in zip(path.cameras, loaded.cameras):
        torch.testing.assert_close(a.c2w, b.c2w)
        assert b.fov_y_degrees == pytest.approx(50.0)


def test_orbit_cameras_look_at_the_centre_from_the_radius():
    center = np.array([0.5, -0.2, 0.1])
    for spiral in (False, True):
        path = orbit_path(center, 3.0, frames=8, width=32, height=32, spiral=spiral)
        for camera in path.cameras:
            c2w = camera.c2w.double().numpy()
            to_center = center - c2w[:3, 3]
            # OpenGL axes: the camera looks down its -Z axis, and +Y (image up) has no component along world -Z up.
            np.testing.assert_allclose(-c2w[:3, 2], to_center / np.linalg.norm(to_center), atol=1e-6)
            assert c2w[2, 1] > 0
            if not spiral:
                assert np.linalg.norm(to_center) == pytest.approx(3.0)


def test_resizing_keeps_the_vertical_field_of_view():
    path = orbit_path((0, 0, 0), 3.0, frames=2, width=64, height=48, fov_y_degrees=30.0).resized(100, 40)
    assert path.resolution == (100, 40)
    camera = path.cameras[0]
    assert camera.fov_y_degrees == pytest.approx(30.0) and camera.fx == pytest.approx(camera.fy)


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"),
    ('{"fps": 30, "frames": []}', "resolution"),
    ('{"resolution": [8, 8], "frames": [{"camera_to_world": [[1, 0], [0, 1]], "fov_y_degrees": 40}]}', "4x4"),
    ('{"resolution": [8, 8], "frames": []}', "at least one frame"),
])
def test_broken_files_are_reported_by_name(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(CameraPathError, match=message):
        load_camera_path(tmp_path / "bad.json")
    with pytest.raises(CameraPathError, match="does not exist"):
        load_camera_path(tmp_path / "missing.json")


def test_saved_paths_load(tmp_path):
    from fields.export.camera_path import CameraPath
    from fields.render.camera import PinholeCamera

    pose = np.eye(4)
    pose[:3, 3] = [0.0, -4.0, 1.0]
    save_camera_path(tmp_path / "viewer.json", CameraPath([PinholeCamera.from_fov(pose, 64, 32, 45.0)] * 3, fps=24))
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_camera_path(tmp_path / "viewer.json")
    assert loaded.resolution == (64, 32) and loaded.fps == 24 and len(loaded.cameras) == 3
    np.testing.assert_allclose(loaded.cameras[0].c2w.numpy(), pose, atol=1e-6)
    assert loaded.cameras[0].fov_y_degrees == pytest.approx(45.0)
