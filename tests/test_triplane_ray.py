"""The same collection fitted as Ray tasks on a local two-CPU Ray instance equals the single-process fit."""
import pytest
import torch

from fields.datasets.shapes import write_collection
from fields.triplanes.collection import fit_collection
from fields.triplanes.fitting import FitSettings
from fields.triplanes.store import find_meshes, read_triplane

ray = pytest.importorskip("ray", reason="ray is the optional extra fields[ray]")

TINY = FitSettings(resolution=8, channels=4, n_frequencies=2, hidden_dim=16, n_layers=2, steps=10, batch_size=256,
                   pool_size=2048, eval_resolution=16, chamfer_points=500, n_points=64)


def test_ray_backend_equals_single_process(tmp_path):
    meshes = tmp_path / "shapes"
    write_collection(meshes, per_class=2, seed=1, classes=("cone", "capsule"))
    single = fit_collection(meshes, tmp_path / "local", TINY, workers=1, progress=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = fit_collection(meshes, tmp_path / "ray", TINY, ray=True, progress=False)
    finally:
        ray.shutdown()
    assert on_ray["this_run"]["backend"] == "ray" and on_ray["fitted"] == single["fitted"] == 4
    for job in find_meshes(meshes):
        name = job.stem() + ".safetensors"
        (a, record_a), (b, record_b) = read_triplane(tmp_path / "local" / name), read_triplane(tmp_path / "ray" / name)
        assert all(torch.equal(a[key], b[key]) for key in a)
        assert record_a["metrics"]["iou"] == record_b["metrics"]["iou"]
