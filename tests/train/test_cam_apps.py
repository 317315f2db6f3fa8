"""--cam and --quantize on train_image, train_sdf and train_nerf: a few steps on tiny inputs, a checkpoint that
rebuilds the modulated field, size_mb that reflects quantisation, and a clear error for a field without CAM."""
import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from apps import train_image, train_nerf, train_sdf
from fields.models.cam import CoordinateModulation
from fields.run.checkpoint import load_field
from fields.train.config import TrainImageConfig, TrainNerfConfig, TrainSdfConfig
from fields.run import exit_code

TINY_MLP = {"hidden_dim": 16, "n_layers": 2}


def cam_modules(field):
    return [m for m in field.modules() if isinstance(m, CoordinateModulation)]


@pytest.fixture
def small_image(tmp_path):
    y, x = np.mgrid[0:16, 0:20] / 20.0
    path = tmp_path / "small.png"
    Image.fromarray((np.stack([x, y, x * y], axis=-1) * 255).astype(np.uint8)).save(path)
    return path


def test_train_image_with_cam_and_quantisation(small_image, tmp_path):
    sizes = {}
    for quantize in (False, True):
        out = tmp_path / f"run{quantize}"
        config = TrainImageConfig(image=small_image, field="ffn", max_steps=5, output=out, cam=True,
                                  cam_resolution=(8, 8), quantize=quantize, holdout_every=2, progress=False,
                                  device="cpu", field_options=TINY_MLP | {"n_frequencies": 8})
        assert exit_code(train_image.main, config) == 0
        sizes[quantize] = json.loads((out / "metrics.json").read_text())["size_mb"]
        field, _, _ = load_field(out / "checkpoints" / "latest.safetensors")
        (cam,) = cam_modules(field)
        assert cam.grid.shape == (2 * 2, 8, 8) and cam.quantize_bits == (8 if quantize else 0)
    assert sizes[True] < 0.35 * sizes[False]


def test_train_image_cam_on_a_hash_field_is_a_clear_error(small_image, tmp_path, capsys):
    config = TrainImageConfig(image=small_image, field="hash", cam=True, output=tmp_path / "run", device="cpu")
    assert exit_code(train_image.main, config) == 2
    assert "--cam needs an MLP-style field" in capsys.readouterr().err


def test_train_sdf_with_cam(tmp_path):
    path = tmp_path / "sphere.obj"
    trimesh.creation.icosphere(subdivisions=2, radius=0.6).export(path)
    config = TrainSdfConfig(mesh=path, field="mlp", max_steps=5, output=tmp_path / "run", cam=True,
                            cam_resolution=(6,), progress=False, device="cpu", pool_size=1 << 12, batch_size=512,
                            eval_resolution=24, field_options=TINY_MLP)
    assert exit_code(train_sdf.main, config) == 0
    field, _, _ = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    (cam,) = cam_modules(field)
    assert cam.grid.shape == (3, 4, 6, 6)  # additive xy/xz/yz planes


def test_train_nerf_with_cam(procedural_scene, tmp_path):
    config = TrainNerfConfig(scene=str(procedural_scene), field="mlp", device="cpu", max_steps=5,
                             output=tmp_path / "run", progress=False, val_views=0, eval_every=3, save_every=10**6,
                             target_samples=1 << 12, grid_resolution=16, cam=True, cam_trunk_resolution=4,
                             quantize=True, field_options=TINY_MLP)
    assert exit_code(train_nerf.main, config) == 0
    evaluation = json.loads((tmp_path / "run" / "eval_val.json").read_text())
    field, _, _ = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert len(cam_modules(field)) == 2  # direction CAM in the colour head, xyz tri-planes on the trunk
    assert evaluation["size_mb"] == pytest.approx(field.size_mb())
    assert evaluation["num_parameters"] == field.num_parameters()
