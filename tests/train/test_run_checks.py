"""Bad option values and reused run folders fail before any work, with a message naming the flag, and a trained run
is never written over (fields.run.options, fields.run.folder)."""
import pytest

from fields.distill.config import ConvertConfig
from fields.train.config import TrainImageConfig, TrainNerfConfig, TrainSdfConfig
from fields.train.nerf_trainer import NerfTrainer


@pytest.mark.parametrize("option, value, message", [
    ("max_steps", 0, "--max-steps must be positive, got 0"),
    ("max_time", -1.0, "--max-time must be positive"),
    ("save_every", 0, "--save-every must be positive"),
    ("log_every", 0, "--log-every must be positive"),
    ("render_step_size", 0.0, "--render-step-size must be positive"),
    ("eval_every", -1, "--eval-every must be 0 or more"),
])
def test_nerf_options_out_of_range_fail_before_the_scene_is_loaded(small_config, tmp_path, option, value, message):
    config = small_config(scene=str(tmp_path / "not_loaded"), **{option: value})  # a scene that does not exist
    with pytest.raises(ValueError, match=message):
        NerfTrainer(config)
    assert not (tmp_path / "run").exists()


def test_other_configs_check_their_ranges(tmp_path):
    with pytest.raises(ValueError, match="--max-steps must be positive"):
        TrainImageConfig(image=tmp_path / "a.png", max_steps=0).check()
    with pytest.raises(ValueError, match="--batch-size must be positive"):
        TrainImageConfig(image=tmp_path / "a.png", batch_size=-4).check()
    with pytest.raises(ValueError, match="--holdout-every must be at least 2"):
        TrainImageConfig(image=tmp_path / "a.png", holdout_every=1).check()
    with pytest.raises(ValueError, match="--pool-size must be positive"):
        TrainSdfConfig(mesh=tmp_path / "a.obj", pool_size=0).check()
    with pytest.raises(ValueError, match="--eval-resolution must be at least 8"):
        TrainSdfConfig(mesh=tmp_path / "a.obj", eval_resolution=1).check()
    with pytest.raises(ValueError, match="--round-steps must be positive"):
        ConvertConfig(checkpoint=tmp_path / "a.safetensors", round_steps=0).check()
    with pytest.raises(ValueError, match="--views-per-round must be positive"):
        ConvertConfig(checkpoint=tmp_path / "a.safetensors", views_per_round=0).check()
    for config in (TrainNerfConfig(), TrainImageConfig(image=tmp_path / "a.png"), TrainSdfConfig(mesh=tmp_path),
                   ConvertConfig(checkpoint=tmp_path)):
        config.check()  # the defaults are in range


def test_a_trained_run_is_not_written_over_without_resume(small_config):
    config = small_config(max_steps=2)
    NerfTrainer(config).run()
    checkpoint = config.output / "checkpoints" / "latest.safetensors"
    before = checkpoint.read_bytes(), (config.output / "config.json").read_bytes()
    with pytest.raises(ValueError, match="already holds a trained run .* pass --resume to continue it"):
        NerfTrainer(small_config(max_steps=2, field="mlp"))
    assert (checkpoint.read_bytes(), (config.output / "config.json").read_bytes()) == before
    NerfTrainer(small_config(max_steps=3, resume=True)).run()  # resuming it is still allowed


def test_an_output_that_is_a_file_is_refused(small_config, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    with pytest.raises(ValueError, match="is a file; give a folder for the outputs"):
        NerfTrainer(small_config(output=taken))
    assert taken.read_text() == "keep me"


def test_resuming_a_run_of_another_signal_names_it(small_config, tmp_path):
    import torch

    from fields.models import make_field
    from fields.run.checkpoint import save_training_state
    from fields.train.nerf_trainer import ResumeError

    image_field = make_field("image", "mlp", height=8, width=8)
    save_training_state(tmp_path / "image_run" / "checkpoints" / "latest.safetensors", image_field, None,
                        torch.optim.Adam(image_field.parameters()), {"step": 1})
    with pytest.raises(ResumeError, match="holds an image field .*not a radiance field"):
        NerfTrainer(small_config(output=tmp_path / "image_run", resume=True))


def test_resume_refuses_other_field_options_and_a_spent_budget(small_config):
    from fields.train.nerf_trainer import ResumeError

    NerfTrainer(small_config(max_steps=2)).run()
    other = dict(small_config().field_options, log2_hashmap_size=12)
    with pytest.raises(ResumeError, match="other options \\(log2_hashmap_size differ\\)"):
        NerfTrainer(small_config(max_steps=4, resume=True, field_options=other))
    with pytest.raises(ResumeError, match="already spent this budget \\(step 2"):
        NerfTrainer(small_config(max_steps=2, resume=True))


def test_an_output_where_nothing_can_be_written_is_refused(small_config, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a read-only folder (root ignores chmod)
    with pytest.raises(ValueError, match="cannot write in"):
        NerfTrainer(small_config(output=tmp_path / "new" / "run"))
