import numpy as np
import pytest
import torch
import trimesh

from fields.export import ExportError, export_field_mesh
from fields.export.threshold import HALF_OPACITY, automatic_density_threshold
from fields.models import make_field

from analytic_fields import AnalyticRadianceField, scene_bounds, scene_sdf


def load_mesh(path) -> trimesh.Trimesh:
    return trimesh.load(path, force="mesh", process=False)


def test_radiance_mesh_has_the_scene_bounds_outward_faces_and_object_colours(radiance_field, tmp_path):
    result = export_field_mesh(radiance_field, tmp_path / "scene.ply", resolution=96)
    mesh = load_mesh(result.path)
    assert (result.n_vertices, result.n_faces) == (len(mesh.vertices), len(mesh.faces))
    voxel = 3.0 / 95
    np.testing.assert_allclose(mesh.bounds.reshape(-1), scene_bounds(), atol=1.5 * voxel)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # faces wind counter-clockwise seen from outside
    # Outward normals point away from the objects: the SDF grows along them.
    vertices = torch.tensor(mesh.vertices, dtype=torch.float32)
    normals = torch.tensor(mesh.vertex_normals, dtype=torch.float32)
    outside, _ = scene_sdf(vertices + 0.02 * normals)
    inside, nearest = scene_sdf(vertices - 0.02 * normals)
    assert (outside > inside).float().mean() > 0.99
    expected = radiance_field.albedo[nearest].numpy()
    colors = mesh.visual.vertex_colors[:, :3] / 255.0
    assert (np.abs(colors - expected).max(axis=1) < 0.02).mean() > 0.97


def test_sdf_mesh_is_written_back_in_the_original_coordinates(sphere_sdf, tmp_path):
    center, scale = np.array([10.0, -3.0, 2.0]), 0.25
    result = export_field_mesh(sphere_sdf, tmp_path / "sphere.obj", resolution=64,
                               normalization={"center": center.tolist(), "scale": scale})
    mesh = load_mesh(result.path)
    sphere_center = center + scale * sphere_sdf.centre.numpy()
    radii = np.linalg.norm(mesh.vertices - sphere_center, axis=1)
    np.testing.assert_allclose(radii, scale * sphere_sdf.radius, atol=scale * 2.0 / 63 * 0.1)
    assert mesh.is_watertight and mesh.volume > 0
    assert result.threshold == 0.0 and mesh.visual.kind is None  # an SDF has no colour


def test_chunked_sampling_leaves_no_seams(radiance_field, tmp_path):
    whole = export_field_mesh(radiance_field, tmp_path / "whole.ply", resolution=48, chunk=1 << 20)
    chunked = export_field_mesh(radiance_field, tmp_path / "chunked.ply", resolution=48, chunk=1000)
    a, b = load_mesh(whole.path), load_mesh(chunked.path)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-6)
    assert whole.threshold == pytest.approx(chunked.threshold)


def test_crop_gives_a_closed_mesh_inside_the_crop(radiance_field, tmp_path):
    crop = (-0.6, -0.6, 0.0, 0.6, 0.6, 1.0)  # cuts through the big sphere at z = 0
    mesh = load_mesh(export_field_mesh(radiance_field, tmp_path / "crop.glb", resolution=64, crop=crop).path)
    assert mesh.is_watertight and mesh.volume > 0
    assert (mesh.bounds[0] >= np.array(crop[:3]) - 1e-6).all() and (mesh.bounds[1] <= np.array(crop[3:]) + 1e-6).all()


def test_small_pieces_are_dropped_and_decimation_meets_the_face_budget(tmp_path):
    field = AnalyticRadianceField()
    density = field.density

    def with_floater(x):  # a speck of density far from the objects
        sigma, h = density(x)
        return sigma + 200.0 * ((x - torch.tensor([1.3, 1.3, 1.3])).norm(dim=1) < 0.05), h

    field.density = with_floater
    kept = export_field_mesh(field, tmp_path / "all.ply", resolution=64, threshold=50.0, min_component_fraction=0)
    cleaned = export_field_mesh(field, tmp_path / "clean.ply", resolution=64, threshold=50.0)
    assert load_mesh(kept.path).bounds[1].max() > 1.2 > load_mesh(cleaned.path).bounds[1].max()
    small = export_field_mesh(field, tmp_path / "small.ply", resolution=64, threshold=50.0, max_faces=2000)
    assert small.n_faces <= 2000 < cleaned.n_faces
    mesh = load_mesh(small.path)
    np.testing.assert_allclose(mesh.bounds.reshape(-1), scene_bounds(), atol=0.08)
    assert mesh.volume > 0


def test_automatic_threshold_is_the_density_at_half_opacity():
    # A slab of density S behind a jump: the optical depth from the jump is spacing * S * f^2 / 2 (density linear
    # between samples), so half opacity is reached at f = sqrt(2 ln 2 / (S spacing)), where the density is f * S.
    S, spacing = 100.0, 0.1
    volume = np.zeros((20, 12, 12), np.float32)
    volume[5:15, 1:-1, 1:-1] = S
    expected = np.sqrt(2.0 * HALF_OPACITY / (S * spacing)) * S
    assert automatic_density_threshold(volume, spacing, slab=3) == pytest.approx(expected, rel=1e-5)
    assert automatic_density_threshold(np.zeros((8, 8, 8), np.float32), spacing) is None


def test_empty_threshold_says_so_and_suggests_a_value(radiance_field, tmp_path):
    with pytest.raises(ExportError, match=r"empty mesh .*max 200.*try --threshold \d"):
        export_field_mesh(radiance_field, tmp_path / "empty.ply", resolution=32, threshold=1e6)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_fails_before_writing(radiance_field, tmp_path):
    with pytest.raises(ExportError, match="image field has no surface"):
        export_field_mesh(make_field("image", "hash", height=8, width=8), tmp_path / "image.ply")
    with pytest.raises(ExportError, match=r"unknown output format '\.stl'.*\.ply, \.obj, \.glb"):
        export_field_mesh(radiance_field, tmp_path / "mesh.stl")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="cannot create the folder"):
        export_field_mesh(radiance_field, blocker / "mesh.ply")
    with pytest.raises(ExportError, match="does not overlap"):
        export_field_mesh(radiance_field, tmp_path / "mesh.ply", crop=(2, 2, 2, 3, 3, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_a_failed_write_leaves_no_partial_file(radiance_field, tmp_path, monkeypatch):
    import trimesh.exchange.ply

    def failing_export(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(trimesh.exchange.ply, "export_ply", failing_export)
    with pytest.raises(OSError, match="disk full"):
        export_field_mesh(radiance_field, tmp_path / "mesh.ply", resolution=32)
    assert list(tmp_path.iterdir()) == []


def test_views_around_the_box_follow_views_and_downscale_when_the_scene_is_gone(tmp_path, capsys):
    from fields.export.views import training_cameras

    gone = {"scene": "moved_away", "scene_path": str(tmp_path / "moved_away")}
    cameras = training_cameras(gone, torch.tensor([-1.0, -1, -1, 1, 1, 1]), tmp_path, downscale=8, max_views=3)
    assert len(cameras) == 3 and (cameras[0].width, cameras[0].height) == (64, 64)
    assert "rendering 3 views of 64x64 around the box" in capsys.readouterr().err


def test_a_face_budget_below_what_the_surface_allows_warns():
    from fields.export.cleanup import decimate

    sphere = trimesh.creation.icosphere(2)
    with pytest.warns(UserWarning, match="--max-faces 2: decimation stopped at 4 faces"):
        _, faces, _ = decimate(np.asarray(sphere.vertices), np.asarray(sphere.faces), 2)
    assert len(faces) == 4  # a closed surface keeps at least a tetrahedron
