import json

import pytest
import torch

from fields.distill import ConvertConfig, ConvertError, Distiller
from fields.distill.losses import distillation_loss
from fields.distill.render import SharedSamples, render_at
from fields.models import field_types
from fields.render.camera import PinholeCamera, render_camera
from fields.run.checkpoint import load_field
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer

from tests.distill.conftest import tiny_options, write_teacher


def make_config(teacher, to, tmp_path, **overrides) -> ConvertConfig:
    options = dict(checkpoint=teacher, to=to, device="cpu", max_steps=3, output=tmp_path / f"to_{to}",
                   progress=False, val_views=0, eval_every=0, target_samples=1 << 11,
                   field_options=tiny_options(to) if to in field_types() else {})
    return ConvertConfig(**(options | overrides))


def fixed_batch_loss(distiller: Distiller, stage: int) -> float:
    """The stage's loss on one fixed batch of rays (same rays, jitter and background every call)."""
    torch.manual_seed(123)
    origins, directions, _ = distiller.orbit.sample(8, torch.Generator().manual_seed(5)).sample_rays(
        512, torch.Generator().manual_seed(6))
    shared = SharedSamples.march(distiller.grid, origins, directions, **distiller.render)
    background = torch.rand_like(origins)
    with torch.no_grad():
        student = render_at(distiller.student, shared, background)
        teacher = render_at(distiller.teacher, shared, background)
        return float(distillation_loss(stage, 0, student, teacher, distiller.config)[0])


@pytest.mark.slow
@pytest.mark.parametrize("stage, bounds", [(1, (1.0, 1.0)), (2, (0.0, 1.0)), (3, (0.0, 0.0))])
def test_each_stage_lowers_its_loss(hash_teacher, tmp_path, stage, bounds):
    distiller = Distiller(make_config(hash_teacher, "mlp", tmp_path, max_steps=60, stage1_end=bounds[0],
                                      stage2_end=bounds[1], lr=3e-3, inherit_color_head=False))
    before = fixed_batch_loss(distiller, stage)
    stages = {distiller.train_step()["stage"] for _ in range(60)}
    assert stages == {stage}
    after = fixed_batch_loss(distiller, stage)
    assert after < 0.7 * before, (before, after)


def test_student_is_an_ordinary_checkpoint(hash_teacher, procedural_scene, tmp_path):
    result = Distiller(make_config(hash_teacher, "mlp", tmp_path, max_steps=4, eval_every=3)).run()
    field, grid, meta = load_field(result.output / "checkpoints" / "latest.safetensors")
    assert field.field_type == "mlp" and grid is not None
    assert meta["step"] == 4 and meta["scene"] == procedural_scene.name
    assert {"scene_path", "train_seconds", "n_rays", "render", "config"} <= set(meta)
    teacher_meta = load_field(hash_teacher)[2]
    assert meta["render"] == teacher_meta["render"]
    config = json.loads((result.output / "config.json").read_text())
    assert config["teacher"]["path"] == str(hash_teacher.resolve())
    assert config["teacher"]["type"] == "hash" and config["teacher"]["step"] == 40
    assert isinstance(config["teacher"]["psnr"], float)  # from the teacher run's eval_val.json
    assert meta["distilled_from"] == config["teacher"]
    assert json.loads((result.output / "eval_val.json").read_text())["psnr"] == result.final_metrics["psnr"]
    camera = PinholeCamera.from_fov(torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 0], [0, 0, 0, 1]]),
                                    24, 16, 40.0)
    image = render_camera(field, grid, camera, render_step_size=meta["render"]["render_step_size"])["rgb"]
    assert image.shape == (16, 24, 3) and bool(torch.isfinite(image).all())


def test_student_continues_training_on_images(hash_teacher, procedural_scene, tmp_path):
    result = Distiller(make_config(hash_teacher, "mlp", tmp_path, max_steps=3)).run()
    trainer = NerfTrainer(TrainNerfConfig(scene=str(procedural_scene), field="mlp", device="cpu", max_steps=5,
                                          output=result.output, resume=True, progress=False, eval_every=0,
                                          val_views=0, target_samples=1 << 11, grid_resolution=32,
                                          field_options=tiny_options("mlp")))
    assert trainer.step == 3
    assert trainer.run().step == 5


def test_the_student_inherits_the_colour_head(hash_teacher, tmp_path):
    distiller = Distiller(make_config(hash_teacher, "siren", tmp_path))
    assert distiller.inherited_color_head
    for name, value in distiller.teacher.color_head.state_dict().items():
        torch.testing.assert_close(distiller.student.color_head.state_dict()[name], value)
    fresh = Distiller(make_config(hash_teacher, "siren", tmp_path, inherit_color_head=False))
    assert not fresh.inherited_color_head


def test_active_learning_runs_every_level(hash_teacher, tmp_path):
    distiller = Distiller(make_config(hash_teacher, "mlp", tmp_path, active_learning=True, round_steps=3,
                                      views_per_round=10, hard_pose_share=0.5, hard_ray_pool=300))
    for _ in range(7):
        stats = distiller.train_step()
    assert len(distiller.views) == 15  # 10 random views + 5 hard poses
    assert 0 < len(distiller.hard_rays) <= 300
    assert stats["n_rays"] > 0


def test_real_views_are_the_training_views(hash_teacher, tmp_path):
    distiller = Distiller(make_config(hash_teacher, "mlp", tmp_path, real_views=True))
    distiller.train_step()
    torch.testing.assert_close(distiller.views.c2w, distiller.training_views.c2w)


def _pairs():
    """Every (teacher, student) pair; those not involving a hash teacher or an mlp student are marked slow."""
    return [pytest.param(t, s, marks=() if t == "hash" or s == "mlp" else pytest.mark.slow)
            for t in field_types() for s in field_types()]


@pytest.mark.parametrize("teacher_type, student_type", _pairs())
def test_every_type_converts_to_every_type(procedural_scene, tmp_path, teacher_type, student_type):
    teacher = write_teacher(tmp_path / "teacher" / "latest.safetensors", procedural_scene, teacher_type)
    distiller = Distiller(make_config(teacher, student_type, tmp_path, max_steps=2, stage1_end=0.0,
                                      stage2_end=0.0, active_learning=True))
    before = [p.detach().clone() for p in distiller.student.backbone.parameters()]
    result = distiller.run()
    field, _, meta = load_field(result.output / "checkpoints" / "latest.safetensors")
    assert field.field_type == student_type and meta["distilled_from"]["type"] == teacher_type
    changed = [not torch.equal(a, b) for a, b in zip(before, field.backbone.parameters())]
    assert any(changed)  # the student learned something from the teacher


def test_unknown_target_type_lists_the_valid_ones(hash_teacher, tmp_path):
    with pytest.raises(ConvertError, match="valid types: " + ", ".join(field_types())):
        Distiller(make_config(hash_teacher, "nosuch", tmp_path))
    assert not (tmp_path / "to_nosuch").exists()


def test_corrupt_teacher_is_a_clear_error(tmp_path):
    teacher = tmp_path / "broken.safetensors"
    teacher.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ConvertError, match="broken.safetensors.*corrupt"):
        Distiller(make_config(teacher, "mlp", tmp_path))
    with pytest.raises(ConvertError, match="not found"):
        Distiller(make_config(tmp_path / "missing.safetensors", "mlp", tmp_path))
    assert not (tmp_path / "to_mlp").exists()


def test_teacher_of_unknown_type_is_a_clear_error(procedural_scene, tmp_path):
    from fields.io import load_checkpoint, save_checkpoint

    teacher = write_teacher(tmp_path / "t.safetensors", procedural_scene, "hash")
    tensors, meta = load_checkpoint(teacher)
    meta["field"]["type"] = "plenoxels"
    save_checkpoint(teacher, tensors, meta)
    with pytest.raises(ConvertError, match="unknown field type 'plenoxels'; known types: "):
        Distiller(make_config(teacher, "mlp", tmp_path))


def test_conversion_to_the_teachers_own_type_is_allowed(hash_teacher, tmp_path):
    distiller = Distiller(make_config(hash_teacher, "hash", tmp_path))
    assert "its own type: allowed" in distiller.describe()
    assert distiller.train_step() is not None
