"""The rbf field (GNF-SH: Gaussian RBF backbone + the shared SH colour head) through the shared NeRF trainer."""
import math

import pytest

from fields.train.nerf_trainer import NerfTrainer

# The radiance defaults (32 kernels, centre std 0.1, lr 2e-2) on a smaller grid.
SMALL_RBF = {"n_levels": 8, "log2_hashmap_size": 14, "finest_resolution": 256}


def test_rbf_field_trains_through_the_shared_trainer(small_config):
    result = NerfTrainer(small_config(field="rbf", field_options=SMALL_RBF, max_steps=10)).run()
    assert result.step == 10
    assert math.isfinite(result.final_metrics["psnr"])


@pytest.mark.slow
def test_rbf_field_learns_the_procedural_scene(small_config):
    trainer = NerfTrainer(small_config(field="rbf", field_options=SMALL_RBF, max_steps=400, grid_resolution=64,
                                       target_samples=1 << 14))
    before = trainer.evaluate(count=2)["psnr"]
    result = trainer.run()
    assert result.final_metrics["psnr"] > before + 8.0, (before, result.final_metrics)
    assert result.final_metrics["psnr"] > 22.0, result.final_metrics
