"""--init fresh on the three trainers: the selected value is used, reported and stored; bad requests fail cleanly."""
import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from apps import train_image, train_nerf, train_sdf
from fields.init import select_for_image
from fields.run.checkpoint import load_field
from fields.train.config import TrainImageConfig, TrainSdfConfig
from fields.train.nerf_trainer import NerfTrainer
from fields.run import exit_code

TINY_SIREN = {"hidden_dim": 32, "n_layers": 2}
TINY_HASH = {"n_levels": 4, "log2_hashmap_size": 12}


@pytest.fixture
def stripes(tmp_path):
    y, x = np.mgrid[0:32, 0:32] / 32.0
    rgb = 0.5 + 0.5 * np.sin(2 * np.pi * 6 * np.stack([x, y, x + y], axis=-1))
    path = tmp_path / "stripes.png"
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


def test_train_image_with_fresh(stripes, tmp_path, capsys):
    config = TrainImageConfig(image=stripes, field="siren", max_steps=5, output=tmp_path / "run", progress=False,
                              device="cpu", field_options=TINY_SIREN, init="fresh",
                              fresh_candidates=[10.0, 40.0, 160.0], fresh_seeds=2)
    assert exit_code(train_image.main, config) == 0
    assert "FreSh for siren: first_omega" in capsys.readouterr().out
    fresh = json.loads((tmp_path / "run" / "metrics.json").read_text())["fresh"]
    assert fresh["option"] == "first_omega" and set(fresh["distances"]) == {"10", "40", "160"}
    assert str(fresh["value"]) == min(fresh["distances"], key=lambda k: fresh["distances"][k]) and fresh["seconds"] > 0
    field, _, _ = load_field(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert field.config["backbone"]["first_omega"] == float(fresh["value"])


def test_fresh_crop_is_passed_to_the_selection_and_checked(stripes, tmp_path):
    config = TrainImageConfig(image=stripes, field="siren", max_steps=1, output=tmp_path / "run", progress=False,
                              device="cpu", field_options=TINY_SIREN, init="fresh", fresh_candidates=[10.0, 40.0],
                              fresh_seeds=1, fresh_crop=8)
    assert exit_code(train_image.main, config) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fresh"]["crop"] == 8
    with pytest.raises(ValueError, match="fresh-crop"):
        select_for_image("siren", torch.rand(16, 16, 3), TINY_SIREN, [10.0], 1, crop=-4)


def test_fresh_refuses_a_type_without_a_family_and_a_preset_value(stripes, tmp_path, capsys):
    config = TrainImageConfig(image=stripes, field="mlp", output=tmp_path / "run", device="cpu", init="fresh")
    assert exit_code(train_image.main, config) == 2
    assert "no FreSh family" in capsys.readouterr().err
    config = TrainImageConfig(image=stripes, field="ffn", output=tmp_path / "run", device="cpu", init="fresh",
                              field_options={"sigma": 3.0})
    assert exit_code(train_image.main, config) == 2
    assert "drop it" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_sdf_with_fresh(tmp_path):
    path = tmp_path / "sphere.obj"
    trimesh.creation.icosphere(subdivisions=2, radius=0.6).export(path)
    config = TrainSdfConfig(mesh=path, field="hash", max_steps=100, output=tmp_path / "run", progress=False,
                            device="cpu", pool_size=1 << 12, batch_size=1024, eval_resolution=16,
                            field_options=TINY_HASH, init="fresh", fresh_candidates=[16.0, 64.0], fresh_seeds=1,
                            fresh_grid=16)
    assert exit_code(train_sdf.main, config) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fresh"]["value"] in (16, 64)
    backbone = metrics["field_config"]["backbone"]
    assert backbone["finest_resolution"] == metrics["fresh"]["value"]
    assert backbone["table_init_scale"] == metrics["fresh"]["fixed"]["table_init_scale"]


def test_train_nerf_with_fresh_writes_fresh_json_and_resumes_with_it(small_config):
    config = small_config(max_steps=3, init="fresh", fresh_candidates=[32.0, 128.0], fresh_seeds=2, fresh_views=2,
                          fresh_side=16, field_options={"log2_hashmap_size": 14, "n_levels": 8})
    assert exit_code(train_nerf.main, config) == 0
    fresh = json.loads((config.output / "fresh.json").read_text())
    assert fresh["value"] in (32, 128) and fresh["crop"] == 64
    assert json.loads((config.output / "config.json").read_text())["fresh"] == fresh
    assert json.loads((config.output / "eval_val.json").read_text())["fresh"]["value"] == fresh["value"]
    resumed = NerfTrainer(small_config(max_steps=4, init="fresh", resume=True, field_options=config.field_options))
    assert resumed.field.backbone.options["finest_resolution"] == fresh["value"] and resumed.step == 3
