import json
import math
import platform
import shutil
import subprocess
import sys

import pytest
import torch

from fields.run.checkpoint import load_field
from fields.train.nerf_trainer import NerfTrainer, ResumeError
from tests.train.conftest import interrupted_run


@pytest.mark.slow
def test_training_learns_the_procedural_scene(small_config):
    trainer = NerfTrainer(small_config(max_steps=400, grid_resolution=64, target_samples=1 << 14))
    before = trainer.evaluate(count=2)["psnr"]
    result = trainer.run()
    assert result.final_metrics["psnr"] > before + 8.0, (before, result.final_metrics)
    assert result.final_metrics["psnr"] > 22.0, result.final_metrics


def test_run_writes_config_metrics_and_checkpoint(small_config):
    result = NerfTrainer(small_config(log_every=10)).run()
    out = result.output
    config = json.loads((out / "config.json").read_text())
    assert config["max_steps"] == 30 and config["field"] == "hash"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [10, 20, 30]
    assert all(math.isfinite(r["loss"]) for r in records if "loss" in r)
    field, grid, meta = load_field(out / "checkpoints" / "latest.safetensors")
    assert meta["step"] == 30 and meta["field"]["type"] == "hash"
    assert set(result.final_metrics) >= {"psnr", "ssim", "split", "background"}
    assert json.loads((out / "eval_val.json").read_text())["psnr"] == result.final_metrics["psnr"]


def test_resume_continues_from_the_checkpoint(small_config):
    first = NerfTrainer(small_config(max_steps=20, eval_every=0)).run()
    resumed = NerfTrainer(small_config(max_steps=30, eval_every=0, resume=True))
    assert resumed.step == 20
    saved, _, _ = load_field(first.output / "checkpoints" / "latest.safetensors")
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(resumed.field.state_dict()[name], value)
    assert len(resumed.optimizer.state) > 0  # Adam moments restored, not restarted
    assert resumed.run().step == 30


def test_resume_keeps_the_checkpoints_occupancy_grid(small_config, capsys):
    first = NerfTrainer(small_config(max_steps=5, eval_every=0, grid_resolution=16)).run()
    _, saved_grid, _ = load_field(first.output / "checkpoints" / "latest.safetensors")
    resumed = NerfTrainer(small_config(max_steps=8, eval_every=0, grid_resolution=32, resume=True))
    assert "16^3" in capsys.readouterr().out
    assert resumed.grid.resolution == 16
    torch.testing.assert_close(resumed.grid.binary, saved_grid.binary)
    assert resumed.run().step == 8


def test_resume_follows_a_moved_scene_and_refuses_another(small_config, procedural_scene, tmp_path, capsys):
    run = NerfTrainer(small_config(max_steps=5, eval_every=0)).run()
    checkpoint = run.output / "checkpoints" / "latest.safetensors"
    before = checkpoint.read_bytes()
    moved = shutil.copytree(procedural_scene, tmp_path / "renamed_scene")  # the same cameras under another name
    assert NerfTrainer(small_config(scene=str(moved), max_steps=6, resume=True)).step == 5
    assert "the scene moved" in capsys.readouterr().out
    other = shutil.copytree(procedural_scene, tmp_path / "another_scene")
    transforms = json.loads((other / "transforms_train.json").read_text())
    transforms["frames"][0]["transform_matrix"][0][3] += 0.5  # other cameras
    (other / "transforms_train.json").write_text(json.dumps(transforms))
    with pytest.raises(ResumeError, match=f"{procedural_scene}.*holds other cameras"):
        NerfTrainer(small_config(scene=str(other), resume=True))
    assert checkpoint.read_bytes() == before  # nothing already written is touched
    with pytest.raises(ResumeError, match="no checkpoint"):
        NerfTrainer(small_config(resume=True, output=tmp_path / "empty"))


def test_non_finite_loss_skips_the_step_and_warns(small_config):
    trainer = NerfTrainer(small_config(max_steps=6, eval_every=0))
    density = trainer.field.density

    def poisoned(x, encoded=None):  # every density evaluation of the third step
        sigma, h = density(x, encoded)
        return sigma * float("nan") if trainer.step == 2 else sigma, h

    trainer.field.density = poisoned
    trainer.grid.update = lambda *a, **k: None  # keep density calls to the training steps
    trainer.grid.mark_all_occupied()
    with pytest.warns(UserWarning, match="non-finite"):
        trainer.run()
    for p in trainer.field.parameters():
        assert torch.isfinite(p).all()


def test_ctrl_c_writes_a_checkpoint_then_stops(small_config):
    trainer = NerfTrainer(small_config(max_steps=100))
    assert "checkpoint written at step 7" in interrupted_run(trainer, "train_step", 7).note
    _, _, meta = load_field(trainer.output)
    assert meta["step"] == 7 and not (trainer.output / "eval_val.json").exists()


FLUSH_CHECK = """
import torch
from fields.run.device import training_device
tiny = torch.tensor([1e-39])  # subnormal in float32
before = (tiny * 1.0).item()
training_device("cpu")
print(before, (tiny * 1.0).item())
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="flush-to-zero is set through SSE3 on x86")
def test_cpu_training_flushes_subnormal_floats():
    """Adam's moments of untouched table rows decay into subnormals, slow on x86: CPU trainers flush them to zero.
    In a fresh process, since the setting is process-wide and earlier tests have set it already."""
    done = subprocess.run([sys.executable, "-c", FLUSH_CHECK], capture_output=True, text=True, check=True)
    before, after = map(float, done.stdout.split())
    assert before > 0.0 and after == 0.0


def test_periodic_validation_renders_a_bounded_subset_of_pixels(small_config):
    from fields.run import PixelSubset

    trainer = NerfTrainer(small_config(max_steps=20, eval_every=0, val_views=2, val_pixels=100))
    trainer.run()
    assert [len(index) for index in trainer.val_pixels.pixel_index] == [100, 100]
    # With every pixel in the subset, it measures what the whole-view evaluation measures.
    everything = PixelSubset(trainer.val_data, 2, trainer.val_data.width * trainer.val_data.height)
    subset_psnr = everything.psnr(trainer.field, trainer.grid, trainer.config.render_step_size, 0.0, trainer.device)
    assert subset_psnr == pytest.approx(trainer.evaluate(count=2)["psnr"], abs=1e-3)
