"""Fitting a class-labelled mesh folder: results written per shape, bad shapes reported and skipped, reruns resume,
and every backend computes the same tri-planes for a shape."""
import json
from dataclasses import replace

import pytest
import torch

from fields.datasets.mesh_sdf import inside, load_mesh, normalize_mesh
from fields.datasets.shapes import SHAPE_CLASSES, make_shape, write_collection
from fields.triplanes.collection import fit_collection
from fields.triplanes.fitting import FitSettings, fit_shape, shape_seed
from fields.triplanes.store import find_meshes, read_triplane

TINY = FitSettings(resolution=8, channels=4, n_frequencies=2, hidden_dim=16, n_layers=2, steps=15, batch_size=256,
                   pool_size=2048, eval_resolution=16, chamfer_points=500, n_points=64)


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_collection(root, per_class=2, seed=0, classes=("box", "torus"))
    return root


def test_procedural_shapes_are_closed_solids_of_every_class():
    rng = __import__("numpy").random.default_rng(0)
    for name in SHAPE_CLASSES:
        mesh = make_shape(name, rng)
        assert len(mesh.faces) > 100, name  # subdivided, so the deformation bends faces
        extent = mesh.bounds[1] - mesh.bounds[0]
        assert extent.min() > 0.05 and extent.max() < 3.0, name
    with pytest.raises(ValueError, match="unknown shape class"):
        make_shape("teapot", rng)


def test_collection_is_deterministic_and_loadable(tmp_path, meshes):
    again = tmp_path / "again"
    write_collection(again, per_class=2, seed=0, classes=("box", "torus"))
    assert (again / "torus" / "torus_0001.obj").read_bytes() == (meshes / "torus" / "torus_0001.obj").read_bytes()
    mesh, _ = normalize_mesh(load_mesh(meshes / "torus" / "torus_0000.obj"))
    centre_of_tube = mesh.vertices.mean(0)  # the hole of a torus is outside the solid
    assert not inside(mesh, centre_of_tube[None])[0]


def test_fit_shape_learns_the_shape_and_is_seeded_by_its_path(meshes):
    path = str(meshes / "box" / "box_0000.obj")
    settings = replace(TINY, steps=60)
    first = fit_shape(path, "box/box_0000.obj", settings)
    assert first["planes"].shape == (3, 4, 8, 8) and first["points"].shape == (64, 3)
    assert first["metrics"]["iou"] > 0.5 and first["metrics"]["seed"] == shape_seed("box/box_0000.obj")
    assert torch.equal(fit_shape(path, "box/box_0000.obj", settings)["planes"], first["planes"])
    assert not torch.equal(fit_shape(path, "box/box_0001.obj", settings)["planes"], first["planes"])


@pytest.mark.filterwarnings("ignore:step .*non-finite loss")
def test_bad_meshes_and_diverged_fits_are_reported_and_skipped_and_reruns_resume(tmp_path, meshes, capsys):
    folder = tmp_path / "meshes"
    for job in find_meshes(meshes):
        (folder / job.relative_path).parent.mkdir(parents=True, exist_ok=True)
        (folder / job.relative_path).symlink_to(job.mesh_path)
    (folder / "box" / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")
    output = tmp_path / "triplanes"
    summary = fit_collection(folder, output, TINY, workers=1, progress=False)
    assert summary["fitted"] == 4 and summary["failed"] == 1
    assert summary["failures"][0]["shape"] == "box/broken.obj" and "MeshLoadError" in summary["failures"][0]["error"]
    assert json.loads((output / "summary.json").read_text())["fitted"] == 4
    tensors, record = read_triplane(output / "torus" / "torus_0001.safetensors")
    assert record["label"] == "torus" and tensors["planes"].shape == (3, 4, 8, 8)
    assert not list(output.rglob("*.tmp"))

    finished = {p: p.stat().st_mtime_ns for p in output.rglob("*.safetensors")}
    (output / "torus" / "torus_0001.safetensors").unlink()  # as if the first run had stopped before this shape
    summary = fit_collection(folder, output, TINY, workers=1, progress=False)
    assert summary["this_run"]["fitted_or_failed"] == 1 and summary["fitted"] == 4
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items() if p.exists() and "torus_0001" not in p.name)
    assert torch.equal(read_triplane(output / "torus" / "torus_0001.safetensors")[0]["planes"], tensors["planes"])

    with pytest.raises(ValueError, match="other settings"):
        fit_collection(folder, output, replace(TINY, steps=16), progress=False)

    diverging = fit_collection(folder, tmp_path / "diverged", replace(TINY, lr=float("inf")), progress=False)
    assert diverging["fitted"] == 0 and diverging["failed"] == 5
    assert any("FitError" in f["error"] for f in diverging["failures"])


def test_worker_processes_give_the_single_process_results(tmp_path, meshes):
    single = fit_collection(meshes, tmp_path / "one", TINY, workers=1, progress=False)
    pooled = fit_collection(meshes, tmp_path / "two", TINY, workers=2, progress=False)
    assert single["fitted"] == pooled["fitted"] == 4
    for job in find_meshes(meshes):
        name = job.stem() + ".safetensors"
        a, b = read_triplane(tmp_path / "one" / name), read_triplane(tmp_path / "two" / name)
        assert torch.equal(a[0]["planes"], b[0]["planes"]) and a[1]["metrics"]["iou"] == b[1]["metrics"]["iou"]


def test_a_corrupt_triplane_file_is_named_with_what_to_do(tmp_path):
    broken = tmp_path / "box_0000.safetensors"
    broken.write_bytes(b"\x07" * 100)
    with pytest.raises(ValueError, match=f"{broken} is not a readable tri-plane file.*delete it"):
        read_triplane(broken)
