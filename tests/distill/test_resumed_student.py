"""A PVD student that train_nerf.py --resume continues keeps the record of its teacher (issue 10)."""
import json

import fields.train.nerf_trainer as nerf_trainer
from fields.distill import ConvertConfig, Distiller
from fields.run.checkpoint import load_field, save_training_state
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer

from tests.distill.conftest import tiny_options, write_teacher


def test_a_resumed_student_keeps_its_teacher_in_config_and_every_checkpoint(procedural_scene, tmp_path, monkeypatch):
    teacher = write_teacher(tmp_path / "teacher" / "latest.safetensors", procedural_scene)
    student = Distiller(ConvertConfig(checkpoint=teacher, to="mlp", device="cpu", max_steps=2,
                                      output=tmp_path / "student", progress=False, val_views=0, eval_every=0,
                                      target_samples=1 << 11, field_options=tiny_options("mlp"))).run().output
    checkpoint = student / "checkpoints" / "latest.safetensors"
    record = load_field(checkpoint)[2]["distilled_from"]
    assert record["path"] == str(teacher.resolve())

    saved = []  # the meta of every checkpoint the resumed runs write

    def recording_save(path, field, grid, optimizer, meta):
        saved.append(meta)
        save_training_state(path, field, grid, optimizer, meta)

    monkeypatch.setattr(nerf_trainer, "save_training_state", recording_save)
    for max_steps in (4, 6):  # the second resume reads the checkpoint that the first one wrote
        NerfTrainer(TrainNerfConfig(scene=str(procedural_scene), field="mlp", device="cpu", max_steps=max_steps,
                                    output=student, resume=True, progress=False, eval_every=0, val_views=0,
                                    save_every=1, target_samples=1 << 11, grid_resolution=16,  # the teacher's grid
                                    field_options=tiny_options("mlp"))).run()
        assert json.loads((student / "config.json").read_text())["teacher"] == record
    assert {meta["step"] for meta in saved} == {3, 4, 5, 6}
    assert all(meta["distilled_from"] == record for meta in saved)
    assert load_field(checkpoint)[2]["distilled_from"] == record
