"""The export apps end to end on a small fitted radiance field of the procedural scene (see conftest.py)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
import tyro

from fields.export import export_field_mesh
from fields.export.camera_path import orbit_path, save_camera_path
from fields.run.checkpoint import load_field, save_training_state
from fields.models import make_field

from analytic_fields import scene_bounds, scene_sdf
from fields.run import exit_code

ROOT = Path(__file__).resolve().parents[2]


def load_app(name: str):
    spec = importlib.util.spec_from_file_location(f"app_{name}", ROOT / "apps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # tyro reads the config's docstrings through the module
    spec.loader.exec_module(module)
    return module


export_mesh, export_pointcloud, render = (load_app(n) for n in ("export_mesh", "export_pointcloud", "render"))


def test_every_export_app_has_help(capsys):
    for config in (export_mesh.ExportMeshConfig, export_pointcloud.ExportPointCloudConfig, render.RenderConfig):
        with pytest.raises(SystemExit) as exit_info:
            tyro.cli(config, args=["--help"])
        assert exit_info.value.code == 0
        assert "--checkpoint" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".glb"])
def test_export_mesh_writes_every_format_that_loads_back(radiance_checkpoint, tmp_path, suffix, capsys):
    output = tmp_path / f"mesh{suffix}"
    code = exit_code(export_mesh.main, export_mesh.ExportMeshConfig(checkpoint=radiance_checkpoint, output=output,
                                                         resolution=64, device="cpu"))
    assert code == 0, capsys.readouterr().err
    mesh = trimesh.load(output, force="mesh", process=False)
    assert len(mesh.faces) > 1000 and mesh.is_winding_consistent and mesh.volume > 0
    np.testing.assert_allclose(mesh.bounds.reshape(-1), scene_bounds(), atol=0.1)
    assert mesh.visual.kind == "vertex" and mesh.visual.vertex_colors[:, :3].std() > 20  # coloured, not uniform
    assert "automatic" in capsys.readouterr().out


def test_skipping_empty_cells_of_the_occupancy_grid_changes_nothing(radiance_checkpoint, tmp_path):
    field, grid, _ = load_field(radiance_checkpoint)
    assert grid.occupied_fraction() < 0.5
    skipped = export_field_mesh(field, tmp_path / "skipped.ply", resolution=48, grid=grid, threshold=20.0)
    full = export_field_mesh(field, tmp_path / "full.ply", resolution=48, threshold=20.0)
    a, b = (trimesh.load(r.path, process=False) for r in (skipped, full))
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-4)


def test_export_mesh_errors_are_clear_and_leave_nothing(radiance_checkpoint, tmp_path, capsys, monkeypatch):
    def run(**options):
        config = export_mesh.ExportMeshConfig(checkpoint=radiance_checkpoint, device="cpu", resolution=32,
                                              **options)
        return exit_code(export_mesh.main, config), capsys.readouterr().err

    code, err = run(output=tmp_path / "mesh.ply", threshold=1e9)
    assert code == 2 and "empty mesh" in err and "try --threshold" in err
    code, err = run(output=tmp_path / "mesh.fbx")
    assert code == 2 and "unknown output format '.fbx'" in err
    monkeypatch.setitem(sys.modules, "open3d", None)  # as on a machine without it
    code, err = run(output=tmp_path / "mesh.ply", method="tsdf")
    assert code == 2 and "pip install open3d" in err and "apt-get install libusb-1.0-0" in err
    code, err = run(output=tmp_path / "mesh.ply", min_component_fraction=2.0)
    assert code == 2 and "--min-component-fraction must lie in [0, 1]" in err
    code, err = run(output=tmp_path / "mesh.ply", max_faces=-5)
    assert code == 2 and "--max-faces must be 0 or more" in err
    assert list(tmp_path.iterdir()) == []


def test_a_field_that_cannot_be_meshed_is_refused(tmp_path, capsys):
    field = make_field("image", "hash", height=8, width=8)
    checkpoint = tmp_path / "image.safetensors"
    save_training_state(checkpoint, field, None, torch.optim.Adam(field.parameters()), {"step": 0})
    for app, config in ((export_mesh, export_mesh.ExportMeshConfig), (render, render.RenderConfig),
                        (export_pointcloud, export_pointcloud.ExportPointCloudConfig)):
        extra = {"output": tmp_path / "out.mp4"} if app is render else {"output": tmp_path / "out.ply"}
        assert exit_code(app.main, config(checkpoint=checkpoint, device="cpu", **extra)) == 2
        assert "image field" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.json", "image.safetensors"]


def test_render_orbit_video_has_the_frames_and_size_asked_for(radiance_checkpoint, tmp_path, capsys):
    output = tmp_path / "orbit.mp4"
    config = render.RenderConfig(checkpoint=radiance_checkpoint, output=output, path="spiral", frames=6,
                                 resolution=(40, 32), depth=True, device="cpu")
    assert exit_code(render.main, config) == 0, capsys.readouterr().err
    for path in (output, tmp_path / "orbit_depth.mp4"):
        frames = _read_frames(path)
        assert frames.shape == (6, 32, 40, 3)
    frames = _read_frames(output)
    assert frames.min() < 100 and frames.max() > 200  # objects on the white background


def test_render_follows_a_saved_camera_path(radiance_checkpoint, tmp_path, capsys):
    path = orbit_path((0.0, 0.0, 0.0), 4.0, frames=4, width=36, height=24, fps=12.0)
    save_camera_path(tmp_path / "path.json", path)
    output = tmp_path / "path.mp4"
    config = render.RenderConfig(checkpoint=radiance_checkpoint, output=output, path=str(tmp_path / "path.json"),
                                 device="cpu")
    assert exit_code(render.main, config) == 0, capsys.readouterr().err
    assert _read_frames(output).shape == (4, 24, 36, 3)
    assert "12 fps" in capsys.readouterr().out
    bad = render.RenderConfig(checkpoint=radiance_checkpoint, output=tmp_path / "odd.mp4", resolution=(33, 24),
                              frames=2, device="cpu")
    assert exit_code(render.main, bad) == 2 and "even width and height" in capsys.readouterr().err
    assert not (tmp_path / "odd.mp4").exists()


def test_export_pointcloud_gives_coloured_oriented_points_on_the_surfaces(radiance_checkpoint, tmp_path, capsys):
    output = tmp_path / "points.ply"
    config = export_pointcloud.ExportPointCloudConfig(checkpoint=radiance_checkpoint, output=output,
                                                      num_points=3000, views=6, downscale=1, device="cpu")
    assert exit_code(export_pointcloud.main, config) == 0, capsys.readouterr().err
    cloud = trimesh.load(output)
    points = np.asarray(cloud.vertices)
    assert 1000 < len(points) <= 3000

    distance, _ = scene_sdf(torch.tensor(points, dtype=torch.float32))
    assert (distance.abs() < 0.05).float().mean() > 0.9
    normals = np.stack([cloud.metadata["_ply_raw"]["vertex"]["data"][n] for n in ("nx", "ny", "nz")], axis=1)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    outward = scene_sdf(torch.tensor(points + 0.03 * normals, dtype=torch.float32))[0] > distance
    assert outward.float().mean() > 0.85
    assert cloud.colors[:, :3].std() > 20


def _read_frames(path: Path) -> np.ndarray:
    import imageio.v2 as imageio

    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        return np.stack([frame for frame in reader])
    finally:
        reader.close()
