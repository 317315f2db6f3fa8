import json
import socket
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from fields.viewer import Viewer, ViewerError, check_port
from fields.viewer.loading import load_viewer_input

from viewer_helpers import SphereSdf, ViserProtocolClient, red_pixels, wait_for
from fields.run import exit_code

# OpenGL camera 4 units out on -Y looking at the origin, +Z up.
FRONT = np.array([[1.0, 0, 0, 0], [0, 0, -1, -4.0], [0, 1, 0, 0], [0, 0, 0, 1]])


@pytest.fixture
def viewer(red_sphere, free_port, tmp_path):
    field, grid = red_sphere
    viewer = Viewer(field, grid, port=free_port, max_resolution=96, output_dir=tmp_path / "viewer", verbose=False)
    yield viewer
    viewer.close()


def test_a_browser_gets_frames_of_its_camera(viewer):
    client = ViserProtocolClient(viewer.server.get_port())
    try:
        client.send_camera(FRONT, width=320, height=240)  # connects; the viewer moves it to the opening view
        assert wait_for(lambda: client.frames, 20.0)
        # A browser that connects has a resting camera: its first frame is the sharp, lossless one, of the opening
        # view (looking at the sphere in the middle of the box from outside it).
        fmt, first = client.frames[0]
        assert fmt == "png"
        assert first.shape == (72, 96, 3)  # the resolution cap on the long side, the browser's 4:3 aspect
        assert red_pixels(first[30:42, 42:54]) == 12 * 12 and (first[0, 0] == 255).all()
        loop = next(iter(viewer.loops.values()))
        assert loop.first_frame_seconds < 2.0

        client.send_camera(FRONT, width=320, height=240)
        assert wait_for(lambda: len(client.frames) >= 3, 20.0), client.frames
        # While the camera moves a small JPEG, once it rests the full PNG again.
        assert [fmt for fmt, _ in client.frames[1:3]] == ["jpeg", "png"]
        full = client.frames[2][1]
        assert full.shape == (72, 96, 3)
        assert red_pixels(full) > 0.1 * full.shape[0] * full.shape[1]  # 4 units away the sphere is large
        assert (full[0, 0] == 255).all()  # the background around the sphere
        client.send_camera(FRONT, width=320, height=240)  # the same camera again is no movement: no new frame
        time.sleep(0.5)
        assert len(client.frames) == 3
    finally:
        client.close()
    assert wait_for(lambda: not viewer.loops, 5.0)  # a closed browser ends its render thread


def test_two_browsers_and_one_leaving_mid_render(viewer):
    first, second = ViserProtocolClient(viewer.server.get_port()), ViserProtocolClient(viewer.server.get_port())
    try:
        first.send_camera(FRONT)
        second.send_camera(FRONT, width=200, height=200)
        assert wait_for(lambda: len(viewer.loops) == 2, 10.0)
        loops = list(viewer.loops.values())
        first.close()  # closes while its frames are being rendered
        assert wait_for(lambda: len(viewer.loops) == 1, 5.0)
        second.send_camera(FRONT, width=200, height=200)
        assert wait_for(lambda: any(fmt == "png" for fmt, _ in second.frames), 20.0)
        assert not loops[0].is_alive() or wait_for(lambda: not loops[0].is_alive(), 5.0)
        assert sum(loop.errors for loop in loops) == 0
    finally:
        second.close()


def test_busy_port_is_a_clear_error(free_port):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        with pytest.raises(ViewerError, match=rf"port {free_port} on 127.0.0.1 is already in use.*--port \d+"):
            check_port("127.0.0.1", free_port)


def test_missing_and_corrupt_checkpoints_fail_before_serving(tmp_path, free_port, capsys):
    with pytest.raises(ViewerError, match="checkpoint not found"):
        load_viewer_input(tmp_path / "nope.safetensors")
    with pytest.raises(ViewerError, match="without checkpoints/latest.safetensors"):
        load_viewer_input(tmp_path)
    corrupt = tmp_path / "bad.safetensors"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ViewerError, match="cannot load"):
        load_viewer_input(corrupt)

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps"))
    import view

    assert exit_code(view.main, view.ViewConfig(checkpoint=corrupt, port=free_port)) == 2
    assert "error: cannot load" in capsys.readouterr().err
    with socket.socket() as probe:  # nothing was left listening
        probe.bind(("127.0.0.1", free_port))


class FakeClient:
    def __init__(self, c2w=FRONT, fov=0.7, aspect=1.5):
        from fields.viewer.cameras import viser_from_c2w

        wxyz, position = viser_from_c2w(c2w)
        self.camera = types.SimpleNamespace(wxyz=wxyz, position=position, fov=fov, aspect=aspect)
        self.downloads = []

    def send_file_download(self, name, content):
        self.downloads.append((name, content))


def test_export_mesh_runs_in_the_background_and_offers_the_file(viewer, monkeypatch):
    calls = []

    def fake_export(field, output, resolution=256, threshold=None, crop=None, grid=None, normalization=None):
        calls.append((field is not viewer.field, resolution, grid is not None))  # a snapshot of the field
        Path(output).write_text("ply\n")
        return types.SimpleNamespace(path=Path(output), n_vertices=3, n_faces=1)

    module = types.ModuleType("fields.export.mesh")
    module.export_field_mesh = fake_export
    monkeypatch.setitem(sys.modules, "fields.export", types.ModuleType("fields.export"))
    monkeypatch.setitem(sys.modules, "fields.export.mesh", module)
    client, messages = FakeClient(), []
    assert viewer.export_mesh(client, 64, messages.append)
    assert wait_for(lambda: messages, 10.0)
    assert calls == [(True, 64, True)]
    assert messages[0].startswith("exported") and "3 vertices" in messages[0]
    assert client.downloads == [("mesh_analytic_64.ply", b"ply\n")]


def test_export_mesh_without_the_exporter_says_so(viewer, monkeypatch):
    monkeypatch.setitem(sys.modules, "fields.export.mesh", None)  # import fails
    messages = []
    assert viewer.export_mesh(FakeClient(), 64, messages.append)
    assert wait_for(lambda: messages, 10.0)
    assert "not available" in messages[0]


def test_camera_path_records_the_browser_cameras(viewer, tmp_path):
    with pytest.raises(ViewerError, match="no keyframes"):
        viewer.save_camera_path(tmp_path / "path.json")
    second = FRONT.copy()
    second[:3, 3] = [0.5, -3.5, 0.2]
    assert viewer.add_keyframe(FakeClient()) == 1
    assert viewer.add_keyframe(FakeClient(second, fov=0.5)) == 2
    data = json.loads(viewer.save_camera_path(tmp_path / "path.json").read_text())
    assert data["resolution"] == [96, 64] and data["fps"] == 30
    assert np.allclose(data["frames"][0]["camera_to_world"], FRONT)
    assert np.allclose(data["frames"][1]["camera_to_world"], second)
    assert data["frames"][1]["fov_y_degrees"] == pytest.approx(np.degrees(0.5))


def test_sdf_fields_are_sphere_traced_for_the_browser(free_port, tmp_path):
    viewer = Viewer(SphereSdf(0.5), port=free_port, max_resolution=32, output_dir=tmp_path, verbose=False)
    client = ViserProtocolClient(free_port)
    try:
        assert viewer.renderer.modes == ("rgb", "depth", "opacity", "normals")
        client.send_camera(FRONT, width=64, height=64)
        assert wait_for(lambda: any(fmt == "png" for fmt, _ in client.frames), 30.0)
        full = next(image for fmt, image in client.frames if fmt == "png")
        assert full.shape == (32, 32, 3)
        assert (full[16, 16] < 250).all() and (full[0, 0] == 255).all()  # the shaded sphere on white
    finally:
        client.close()
        viewer.close()


def test_image_fields_are_a_textured_plane(free_port, tmp_path):
    from fields.models import make_field

    viewer = Viewer(make_field("image", "mlp", height=16, width=24), port=free_port, output_dir=tmp_path,
                    verbose=False)
    client = ViserProtocolClient(free_port)
    try:
        client.send_camera(FRONT)
        assert wait_for(lambda: any(m.get("name") == "/image_field" for m in client.messages), 10.0)
        time.sleep(0.5)
        assert not viewer.loops and not client.frames  # nothing is rendered per camera
    finally:
        client.close()
        viewer.close()


def test_training_frustums_are_capped_and_jumping_to_one_places_the_camera_there(red_sphere, procedural_scene,
                                                                                 free_port, tmp_path):
    from fields.datasets import load_scene
    from fields.viewer.cameras import c2w_from_viser

    cameras = load_scene(procedural_scene, "train")
    field, grid = red_sphere
    viewer = Viewer(field, grid, cameras=cameras, port=free_port, max_resolution=32, max_frustums=5,
                    output_dir=tmp_path, verbose=False)
    client = ViserProtocolClient(free_port)
    try:
        assert len(viewer.frustums) == 5
        # The browser opens at the first training camera, looking where it looks, so that camera has no frustum
        # (it would frame the view); the others are small wireframes that leave the scene visible.
        assert np.allclose(viewer.server.initial_camera.position, cameras.c2w[0, :3, 3].numpy())
        look = viewer.server.initial_camera.look_at - viewer.server.initial_camera.position
        assert np.allclose(look / np.linalg.norm(look), -cameras.c2w[0, :3, 2].numpy(), atol=1e-6)
        assert 0 not in viewer.frustum_cameras and len(set(viewer.frustum_cameras)) == 5
        distance = np.linalg.norm(cameras.c2w[:, :3, 3].numpy(), axis=1).mean()  # the cameras look at the origin
        assert all(0.01 * distance < handle.scale <= 0.05 * distance for handle in viewer.frustums)
        assert all(handle.image is None for handle in viewer.frustums)
        viewer.gui.show_thumbnails.value = True  # what the "Camera thumbnails" checkbox does
        for handle, index in zip(viewer.frustums, viewer.frustum_cameras):
            assert handle.image.shape == (48, 48, 3)
            # The training image composited on white (the procedural views are 48 px: no downsampling).
            rgba = cameras.images[index].float() / 255
            expected = (rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]) * 255
            assert np.abs(handle.image.astype(np.float32) - expected.numpy()).max() <= 0.5
        viewer.gui.show_thumbnails.value = False
        assert all(handle.image is None for handle in viewer.frustums)
        client.send_camera(FRONT)
        assert wait_for(lambda: viewer.server.get_clients(), 10.0)
        handle = next(iter(viewer.server.get_clients().values()))
        viewer.jump_to_training_camera(handle, 7)
        placed = c2w_from_viser(handle.camera.wxyz, handle.camera.position)
        assert np.allclose(placed, cameras.c2w[7].numpy(), atol=1e-5)
        fy = float(cameras.intrinsics[7, 1])
        assert handle.camera.fov == pytest.approx(2 * np.arctan(0.5 * cameras.height / fy))
    finally:
        client.close()
        viewer.close()


def test_check_port_names_a_bad_port_or_host():
    with pytest.raises(ViewerError, match="port 99999 is out of range"):
        check_port("127.0.0.1", 99999)
    with pytest.raises(ViewerError, match="cannot listen on host 'nosuch.invalid'"):
        check_port("nosuch.invalid", 7007)
