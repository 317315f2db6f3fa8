import math

import pytest
import torch

from fields.models import make_field
from fields.run.checkpoint import load_field
from fields.train.nerf_trainer import NerfTrainer


@pytest.mark.slow
def test_training_an_unbounded_capture_with_automatic_settings(small_config, unbounded_capture):
    # Automatic levels, step and cone angle; 16^3 cells per level keep the grid's warm-up cheap in a test.
    trainer = NerfTrainer(small_config(scene=str(unbounded_capture), max_steps=60, grid_resolution=16,
                                       random_background=False, eval_every=1))
    assert (trainer.grid.levels, trainer.config.cone_angle) == (5, 1 / 256)
    before = trainer.evaluate(count=2)["psnr"]
    result = trainer.run()
    assert math.isfinite(result.final_metrics["psnr"]) and result.final_metrics["psnr"] > before + 2.0, (
        before, result.final_metrics)
    field, grid, meta = load_field(result.output / "checkpoints" / "latest.safetensors")
    assert meta["render"]["cone_angle"] == 1 / 256 and "unbounded" in meta["render_settings"]["reason"]
    assert grid.levels == 5 and grid.aabb.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert field.aabb.tolist() == [-7.5, -7.5, -7.5, 8.5, 8.5, 8.5]
    assert field.density_bias == pytest.approx(-1.0 + math.log(3.0 / 16.0))  # the box of side 16


def test_appearance_codes_train_per_image_and_held_out_views_use_the_mean(small_config, unbounded_capture):
    trainer = NerfTrainer(small_config(scene=str(unbounded_capture), max_steps=6, grid_resolution=16,
                                       appearance_dim=4, eval_every=0))
    codes = trainer.field.appearance.codes
    assert codes.shape == (trainer.train_data.num_images, 4) and not codes.any()
    result = trainer.run()
    field, _, _ = load_field(result.output / "checkpoints" / "latest.safetensors")
    trained = field.appearance.codes.detach()
    assert trained.abs().sum(dim=1).gt(0).sum() > trained.shape[0] // 2  # most images' codes have moved
    h, d = torch.randn(5, 16), torch.nn.functional.normalize(torch.randn(5, 3), dim=-1)
    with torch.no_grad():
        mean_code = field.color_head(h, d, trained.mean(dim=0).expand(5, -1))
        torch.testing.assert_close(field.color(h, d), mean_code)
        assert not torch.allclose(field.color(h, d, torch.zeros(5, dtype=torch.long)),
                                  field.color(h, d, torch.ones(5, dtype=torch.long)))


def test_a_field_without_appearance_codes_keeps_its_config():
    field = make_field("radiance", "hash", aabb=[-1, -1, -1, 1, 1, 1])
    assert field.appearance is None and "appearance_dim" not in field.config
