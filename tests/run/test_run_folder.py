"""The run folder owns the layout: finding a run from any checkpoint path, config history on resume."""
import json

import pytest

from fields.run import RunFolder, checkpoint_path


def test_run_of_a_checkpoint_or_a_folder(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.checkpoint.parent.mkdir(parents=True)
    run.checkpoint.write_bytes(b"x")
    assert RunFolder.of(run.checkpoint).path == run.path
    assert RunFolder.of(run.path).path == run.path
    assert checkpoint_path(run.path) == run.checkpoint
    assert checkpoint_path(run.checkpoint.with_suffix("")) == run.checkpoint
    with pytest.raises(FileNotFoundError, match="without checkpoints"):
        checkpoint_path(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        checkpoint_path(tmp_path / "missing.safetensors")


def test_resume_keeps_the_history_of_configs(tmp_path):
    run = RunFolder(tmp_path)
    run.write_config({"max_steps": 10})
    run.write_config({"max_steps": 20}, resume=True)
    run.write_config({"max_steps": 30}, resume=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["max_steps"] == 30
    assert [c["max_steps"] for c in config["history"]] == [10, 20]
    run.write_config({"max_steps": 5})  # a new run (not a resume) starts a new history
    assert "history" not in json.loads((tmp_path / "config.json").read_text())


def test_a_folder_holding_a_run_is_refused_unless_resumed(tmp_path):
    run = RunFolder(tmp_path)
    run.checkpoint.parent.mkdir(parents=True)
    run.checkpoint.write_bytes(b"x")
    with pytest.raises(ValueError, match="--resume"):
        run.check_new_run(can_resume=True)
    run.check_new_run(resume=True)
    with pytest.raises(ValueError, match="is a file"):
        RunFolder(run.checkpoint).check_writable()
