"""The PVD loop: distil a trained radiance field (the teacher) into a field of any registered type (the student).

Each step draws rays from the round's views (plus hard rays), marches them once through the teacher's occupancy
grid, which the student inherits, queries both fields at the same samples and minimises the stage's loss
(:mod:`fields.distill.losses`). The student is saved as an ordinary training checkpoint: eval, render, view,
export and ``train_nerf.py --resume`` take it like any other.
"""
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from tqdm import tqdm

from fields.datasets import SceneData, load_scene
from fields.distill.active import HardRayPool, PoseErrors, hard_poses, significant_points
from fields.distill.config import ConvertConfig
from fields.distill.losses import LossWeights, StageSchedule, distillation_loss
from fields.distill.poses import Orbit, Views
from fields.distill.render import SharedSamples, render_at
from fields.distill.teacher import ConvertError, check_target_type, load_teacher, teacher_record, teacher_scene
from fields.io import run_checkpoint
from fields.models import make_field
from fields.train.checkpointing import save_training_state
from fields.train.bookkeeping import append_jsonl, budget_spent, val_due, val_indices
from fields.train.evaluation import evaluate_views
from fields.train.nerf_trainer import CPU_DEFAULT_TIME, DEFAULT_STEPS, MAX_BAD_STEPS, training_device
from fields.train.run_checks import check_run_folder
from fields.train.schedule import lr_factor, training_progress

WEIGHT_DECAY = 1e-6  # as NerfTrainer, so that train_nerf.py --resume continues with the same optimiser
WARMUP_STEPS = 100


@dataclass
class ConvertResult:
    output: Path
    step: int
    train_seconds: float
    final_metrics: Optional[dict]
    teacher: dict


class Distiller:
    def __init__(self, config: ConvertConfig):
        self.config = c = config
        c.check()
        check_run_folder(c.output)
        check_target_type(c.to)
        self.device = training_device(c.device)
        torch.manual_seed(c.seed)
        checkpoint = run_checkpoint(c.checkpoint)  # a run folder stands for its latest checkpoint
        self.teacher, self.grid, teacher_meta = load_teacher(checkpoint, self.device)
        self.teacher_meta = teacher_meta
        self.teacher_info = teacher_record(checkpoint, teacher_meta)
        self.render = dict(teacher_meta.get("render") or {"render_step_size": 5e-3, "cone_angle": 0.0})
        self.scene_path = teacher_scene(teacher_meta, c.scene, c.data_root)
        if c.real_views and self.scene_path is None:
            raise ConvertError(f"--real-views needs the scene the teacher was trained on "
                               f"({teacher_meta.get('scene')!r}), which was not found; pass --scene or --data-root")
        train_views = load_scene(self.scene_path, "train") if self.scene_path is not None else None
        self.val_data = self._val_scene()
        self.scene_name = teacher_meta.get("scene") or (self.scene_path.name if self.scene_path else "unknown")
        self.output = Path(c.output) if c.output else (
            Path("outputs") / self.scene_name / c.to / f"{time.strftime('%Y%m%d-%H%M%S')}-from-{self.teacher_info['type']}")
        self.checkpoint_path = self.output / "checkpoints" / "latest.safetensors"

        aabb = [float(v) for v in self.teacher.aabb.tolist()]
        self.student = make_field("radiance", c.to, aabb=aabb, **c.field_options).to(self.device)
        self.inherited_color_head = c.inherit_color_head and self._inherit_color_head()
        base_lr = c.lr or type(self.student.backbone).default_lr("radiance")
        groups = self.student.param_groups(base_lr)
        for group in groups:
            group["base_lr"] = group["lr"]
        self.optimizer = torch.optim.Adam(groups, lr=base_lr, eps=1e-15, weight_decay=WEIGHT_DECAY,
                                          **({"fused": True} if self.device.type in ("cpu", "cuda") else {}))

        self.stages = StageSchedule(c.stage1_end, c.stage2_end)
        self.weights = LossWeights(c.rgb_weight, c.feature_weight, c.sigma_weight, c.color_weight, c.feature_decay)
        self.max_steps, self.max_time = self._budgets()
        self.target_samples = c.target_samples or (1 << 18 if self.device.type == "cuda" else 1 << 16)
        self.n_rays = 1024 if self.device.type == "cuda" else 256
        self.pose_generator = torch.Generator().manual_seed(c.seed)
        self.ray_generator = torch.Generator(self.device).manual_seed(c.seed)
        self.training_views = Views(train_views.c2w, train_views.intrinsics, train_views.width,
                                    train_views.height) if train_views is not None else None
        self.orbit = Orbit.of_cameras(train_views) if train_views is not None else Orbit.around_box(self.teacher.aabb)
        self.hard_rays = HardRayPool(c.hard_ray_pool, self.device) if c.level("hard_rays") else None
        self.views: Optional[Views] = None
        self.pose_errors: Optional[PoseErrors] = None
        self.step = 0
        self.elapsed = 0.0

    # ----------------------------------------------------------------- setup
    def _budgets(self) -> tuple[int, Optional[float]]:
        c = self.config
        if c.max_steps is None and c.max_time is None and self.device.type == "cpu":
            return DEFAULT_STEPS, CPU_DEFAULT_TIME
        return (c.max_steps or DEFAULT_STEPS), c.max_time

    def _val_scene(self) -> Optional[SceneData]:
        if self.scene_path is None or (self.config.val_views <= 0 and self.config.eval_every <= 0):
            return None
        try:
            return load_scene(self.scene_path, "val")
        except (ValueError, FileNotFoundError) as error:  # no val split: convert without validation
            warnings.warn(f"no validation: {error}")
            return None

    def _inherit_color_head(self) -> bool:
        """Copies the teacher's colour head when the two heads have the same shape (the default options)."""
        teacher_head, student_head = self.teacher.color_head.state_dict(), self.student.color_head.state_dict()
        if any(teacher_head[k].shape != v.shape for k, v in student_head.items()):
            return False
        self.student.color_head.load_state_dict(teacher_head)
        return True

    # ----------------------------------------------------------------- views
    def _new_round(self) -> None:
        """The views of the next round: random views (or the training views), plus hard poses around the worst
        views of the round that ends."""
        c = self.config
        base = self.training_views if c.real_views else self.orbit.sample(c.views_per_round, self.pose_generator)
        base = base.to(self.device)
        if c.level("hard_poses") and self.pose_errors is not None:
            extra = hard_poses(self.views, self.pose_errors, c.hard_pose_ratio,
                               int(round(c.hard_pose_share * len(base))),
                               c.hard_pose_translation * self.orbit.radius, c.hard_pose_rotation,
                               self.pose_generator)
            base = base + extra
        self.views = base
        self.pose_errors = PoseErrors(len(base), self.device)

    def _batch_rays(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(origins, directions, view index or -1 for rays from the hard-ray pool)."""
        n_hard = int(self.config.hard_ray_ratio * self.n_rays) if self.hard_rays is not None else 0
        hard_o, hard_d = self.hard_rays.take(n_hard, self.ray_generator) if n_hard else (None, None)
        n_hard = 0 if hard_o is None else hard_o.shape[0]
        origins, directions, view = self.views.sample_rays(self.n_rays - n_hard, self.ray_generator)
        if n_hard:
            origins, directions = torch.cat([origins, hard_o]), torch.cat([directions, hard_d])
            view = torch.cat([view, torch.full((n_hard,), -1, dtype=view.dtype, device=view.device)])
        return origins, directions, view

    # ----------------------------------------------------------------- one step
    def train_step(self) -> Optional[dict]:
        c = self.config
        if self.step % c.round_steps == 0:
            self._new_round()
        progress = training_progress(self.step, self.elapsed, self.max_steps, self.max_time)
        stage = self.stages.stage(progress)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(self.step, progress, WARMUP_STEPS)
        self.student.train()

        origins, directions, view = self._batch_rays()
        shared = SharedSamples.march(self.grid, origins, directions, **self.render)
        self.step += 1
        if len(shared) == 0:
            return None  # every ray missed the occupied cells: nothing to distil from this batch
        background = torch.rand_like(origins) if c.random_background else torch.ones_like(origins)
        with torch.no_grad():
            teacher = render_at(self.teacher, shared, background)
        student = render_at(self.student, shared, background)
        points = (significant_points(student.weights, teacher.weights, c.hard_point_threshold)
                  if c.level("hard_points") else None)
        loss, terms = distillation_loss(stage, self.step - 1, student, teacher, self.weights, points)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return {"bad": True}
        loss.backward()
        self.optimizer.step()

        ray_errors = (student.ray_rgb.detach() - teacher.ray_rgb).square().mean(dim=-1)
        if self.hard_rays is not None:
            self.hard_rays.offer(origins, directions, ray_errors)
        from_views = view >= 0
        self.pose_errors.add(view[from_views], ray_errors[from_views])
        ratio = self.target_samples / len(shared)
        self.n_rays = int(min(max(self.n_rays * ratio, 64), 1 << 18))
        return {"loss": loss.item(), "stage": stage, **terms, "rgb_mse": float(ray_errors.mean()),
                "n_samples": len(shared), "n_rays": origins.shape[0], "lr": self.optimizer.param_groups[0]["lr"]}

    # ----------------------------------------------------------------- bookkeeping
    def meta(self) -> dict:
        """The checkpoint's meta: NerfTrainer's layout (so that every app reads it) plus the teacher."""
        return {
            "scene": self.scene_name,
            "scene_path": str(Path(self.scene_path).resolve()) if self.scene_path else None,
            "step": self.step,
            "train_seconds": self.elapsed,
            "n_rays": self.n_rays,
            "render": self.render,
            "config": self.config.to_json(),
            "distilled_from": self.teacher_info,
        }

    def save(self) -> None:
        save_training_state(self.checkpoint_path, self.student, self.grid, self.optimizer, self.meta())

    def validate(self, every: Optional[int] = None, count: Optional[int] = None) -> dict:
        """Student PSNR/SSIM on val views (white background): every K-th view, or the first ``count``."""
        indices = val_indices(self.val_data.num_images, every, count)
        self.student.eval()
        return evaluate_views(self.student, self.grid, self.val_data, indices, self.render["render_step_size"],
                              self.render["cone_angle"], self.device)["mean"]

    def _write_config(self) -> None:
        config = self.config.to_json() | {
            "max_steps": self.max_steps, "max_time": self.max_time, "device": str(self.device),
            "scene_name": self.scene_name, "field": self.config.to, "teacher": self.teacher_info,
            "inherited_color_head": self.inherited_color_head, "student_parameters": self.student.num_parameters(),
        }
        (self.output / "config.json").write_text(json.dumps(config, indent=1))

    def _log(self, record: dict) -> None:
        append_jsonl(self.output / "metrics.jsonl", record)

    def _val_due(self, last_val_time: float) -> bool:
        return val_due(self.step, self.elapsed, last_val_time, self.config.val_every, self.max_time)

    def _finished(self) -> bool:
        return budget_spent(self.step, self.elapsed, self.max_steps, self.max_time)

    def describe(self) -> str:
        c, t = self.config, self.teacher_info
        levels = [name for name in ("hard_poses", "hard_rays", "hard_points") if c.level(name)]
        budget = f"{self.max_steps} steps" + (f" or {self.max_time:.0f} s" if self.max_time else "")
        same = " (its own type: allowed, distils into a fresh field)" if c.to == t["type"] else ""
        return (f"converting {t['type']} teacher ({t['path']}) to {c.to}{same} on {self.device}: "
                f"{self.student.num_parameters() / 1e6:.2f} M parameters, budget {budget}, "
                f"{'training views' if c.real_views else 'random views'}, active learning: "
                f"{', '.join(levels) if levels else 'off'}; run folder {self.output}")

    # ----------------------------------------------------------------- the loop
    def run(self) -> ConvertResult:
        c = self.config
        (self.output / "checkpoints").mkdir(parents=True, exist_ok=True)
        self._write_config()
        print(self.describe())
        bar = tqdm(total=self.max_steps, disable=not c.progress, dynamic_ncols=True, unit="step")
        bad_steps, last_val_time, interrupted = 0, 0.0, False
        try:
            while not self._finished():
                start = time.perf_counter()
                stats = self.train_step()
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                self.elapsed += time.perf_counter() - start
                bar.update(1)
                if stats is not None and stats.get("bad"):
                    bad_steps += 1
                    warnings.warn(f"step {self.step}: non-finite distillation loss, step skipped")
                    if bad_steps >= MAX_BAD_STEPS:
                        raise RuntimeError(f"{MAX_BAD_STEPS} consecutive non-finite losses; try a lower --lr")
                    continue
                bad_steps = 0
                if stats is not None:
                    psnr = -10.0 * math.log10(max(stats["rgb_mse"], 1e-10))
                    bar.set_postfix(stage=stats["stage"], loss=f"{stats['loss']:.3g}", psnr_vs_teacher=f"{psnr:.1f}",
                                    rays=stats["n_rays"], t=f"{self.elapsed:.0f}s", refresh=False)
                    if self.step % c.log_every == 0:
                        self._log({"step": self.step, "time": self.elapsed, "psnr_vs_teacher": psnr, **stats})
                if self.val_data is not None and c.val_views > 0 and self._val_due(last_val_time):
                    last_val_time = self.elapsed
                    val = self.validate(count=c.val_views)
                    self._log({"step": self.step, "time": self.elapsed, "val_psnr": val["psnr"],
                               "val_ssim": val["ssim"]})
                    bar.write(f"step {self.step} ({self.elapsed:.0f} s): val PSNR {val['psnr']:.2f} dB on "
                              f"{c.val_views} views")
        except KeyboardInterrupt:
            interrupted = True
            bar.write("interrupted: writing the student checkpoint before exiting")
        finally:
            bar.close()
        self.save()
        print(f"student checkpoint: {self.checkpoint_path} (step {self.step}, {self.elapsed:.0f} s of distillation)")
        final = None
        if not interrupted and self.val_data is not None and c.eval_every > 0:
            final = self.validate(every=c.eval_every) | {
                "split": "val", "every": c.eval_every, "background": "white", "step": self.step,
                "train_seconds": self.elapsed, "teacher_psnr": self.teacher_info["psnr"]}
            (self.output / "eval_val.json").write_text(json.dumps(final, indent=1))
        return ConvertResult(self.output, self.step, self.elapsed, final, self.teacher_info)
