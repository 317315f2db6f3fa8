"""apps/train_image.py and apps/train_sdf.py: they fit, write metrics and a loadable checkpoint, and refuse bad input
with a clear message."""
import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from apps import train_image, train_sdf
from fields.datasets.mesh_sdf import MeshLoadError, load_mesh, normalize_mesh, signed_distance
from fields.run.checkpoint import load_field
from fields.train.config import TrainImageConfig, TrainSdfConfig
from fields.run import exit_code
from tests.train.conftest import interrupted_run

TINY_HASH = {"n_levels": 4, "log2_hashmap_size": 12, "finest_resolution": 64}


@pytest.fixture
def gradient_image(tmp_path):
    y, x = np.mgrid[0:32, 0:40] / 40.0
    rgb = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x)], axis=-1)
    path = tmp_path / "gradient.png"
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


def test_train_image_fits_and_reports_holdout(gradient_image, tmp_path):
    config = TrainImageConfig(image=gradient_image, max_steps=150, output=tmp_path / "run", holdout_every=2,
                              progress=False, device="cpu", field_options=TINY_HASH)
    assert exit_code(train_image.main, config) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["psnr"] > 20.0 and metrics["psnr_holdout"] > 18.0  # an untrained field scores about 6 dB
    assert metrics["width"] == 40 and metrics["height"] == 32 and metrics["size_mb"] > 0
    field, grid, meta = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert field.signal == "image" and grid is None
    assert field.render().shape == (32, 40, 3)
    assert (tmp_path / "run" / "reconstruction.png").exists()


@pytest.mark.parametrize("content", [None, b"not an image"])
def test_train_image_bad_input(tmp_path, capsys, content):
    path = tmp_path / "broken.png"
    if content is not None:
        path.write_bytes(content)
    assert exit_code(train_image.main, TrainImageConfig(image=path, output=tmp_path / "run", device="cpu")) == 2
    assert "image" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.fixture
def open_sphere(tmp_path):
    """A sphere with a hole cut into it: not watertight, yet inside and outside stay well defined."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.7)
    keep = sphere.triangles_center[:, 2] < 0.6
    mesh = trimesh.Trimesh(sphere.vertices, sphere.faces[keep], process=False)
    assert not mesh.is_watertight
    path = tmp_path / "open_sphere.obj"
    mesh.export(path)
    return path


def test_signed_distance_of_an_open_mesh(open_sphere):
    mesh, _ = normalize_mesh(load_mesh(open_sphere))
    values = signed_distance(mesh, np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.99]]))
    assert values[0] < -0.5 and values[1] > 0.0


def test_train_sdf_fits_and_writes_checkpoint(open_sphere, tmp_path):
    config = TrainSdfConfig(mesh=open_sphere, max_steps=150, output=tmp_path / "run", progress=False, device="cpu",
                            pool_size=1 << 15, batch_size=4096, eval_resolution=48, field_options=TINY_HASH)
    assert exit_code(train_sdf.main, config) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["iou"] > 0.7 and metrics["chamfer_relative"] < 0.05  # untrained: IoU near 0
    field, _, meta = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert field.signal == "sdf" and "normalization" in meta
    assert field.sdf(torch.zeros(1, 3)).item() < 0.0


def test_mesh_errors(tmp_path):
    with pytest.raises(MeshLoadError, match="does not exist"):
        load_mesh(tmp_path / "missing.obj")
    flat = tmp_path / "flat.obj"
    flat.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n")
    with pytest.raises(MeshLoadError, match="flat"):
        load_mesh(flat)
    points = tmp_path / "points.obj"
    points.write_text("v 0 0 0\nv 1 0 0\nv 0 1 1\n")
    with pytest.raises(MeshLoadError, match="no faces"):
        load_mesh(points)


def test_ctrl_c_ends_image_training_and_keeps_the_field(gradient_image, tmp_path):
    from fields.train.image_trainer import ImageTrainer

    trainer = ImageTrainer(TrainImageConfig(image=gradient_image, max_steps=100, output=tmp_path / "run",
                                            progress=False, device="cpu", field_options=TINY_HASH))
    assert "checkpoint written at step 3" in interrupted_run(trainer, "loss", 3).note
    _, _, meta = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert meta["step"] == 3


def test_sdf_field_is_saved_before_the_evaluation(open_sphere, tmp_path, monkeypatch):
    from fields.train import sdf_trainer

    def failing_evaluation(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(sdf_trainer, "evaluate_sdf", failing_evaluation)
    config = TrainSdfConfig(mesh=open_sphere, max_steps=5, output=tmp_path / "run", progress=False, device="cpu",
                            pool_size=1 << 12, batch_size=256, field_options=TINY_HASH)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        sdf_trainer.SdfTrainer(config).run()
    field, _, meta = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert field.signal == "sdf" and meta["step"] == 5


def test_image_run_folder_is_not_written_over(gradient_image, tmp_path, capsys):
    config = TrainImageConfig(image=gradient_image, max_steps=2, output=tmp_path / "run", progress=False,
                              device="cpu", field_options=TINY_HASH)
    assert exit_code(train_image.main, config) == 0
    checkpoint = (tmp_path / "run" / "checkpoints" / "latest.safetensors").read_bytes()
    assert exit_code(train_image.main, config) == 2
    assert "already holds a trained run" in capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoints" / "latest.safetensors").read_bytes() == checkpoint


def test_metrics_files_are_strict_json(tmp_path):
    from fields.run.folder import write_json

    write_json(tmp_path / "metrics.json", {"chamfer": float("inf"), "per_view": [1.5, float("nan")], "steps": 3})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"chamfer": None, "per_view": [1.5, None],
                                                                    "steps": 3}


def test_a_folder_given_as_image_or_mesh_is_named_as_such(tmp_path):
    from fields.datasets.image import ImageLoadError, load_image

    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(MeshLoadError, match="is a folder"):
        load_mesh(tmp_path)


def test_ctrl_c_during_the_sdf_evaluation_keeps_the_field_and_the_fit_figures(open_sphere, tmp_path, monkeypatch):
    from fields.train import sdf_trainer

    def interrupted_evaluation(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sdf_trainer, "evaluate_sdf", interrupted_evaluation)
    config = TrainSdfConfig(mesh=open_sphere, max_steps=4, output=tmp_path / "run", progress=False, device="cpu",
                            pool_size=1 << 12, batch_size=256, field_options=TINY_HASH)
    with pytest.raises(KeyboardInterrupt):
        sdf_trainer.SdfTrainer(config).run()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 4
    assert (tmp_path / "run" / "checkpoints" / "latest.safetensors").exists()
