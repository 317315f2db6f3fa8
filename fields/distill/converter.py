"""The PVD loop: distil a trained radiance field (the teacher) into a field of any registered type (the student).

Each step draws rays from the round's views (plus hard rays), marches them once through the teacher's occupancy
grid, which the student inherits, queries both fields at the same samples and minimises the stage's loss
(:mod:`fields.distill.losses`). The student is saved as an ordinary training checkpoint: eval, render, view,
export and ``train_nerf.py --resume`` take it like any other.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from fields.datasets import SceneData, load_scene
from fields.distill.active import HardRayPool, PoseErrors, hard_poses, significant_points
from fields.distill.config import ConvertConfig
from fields.distill.losses import distillation_loss
from fields.distill.poses import Orbit, Views
from fields.distill.render import SharedSamples, render_at
from fields.distill.teacher import ConvertError, check_target_type, load_teacher, teacher_record, teacher_scene
from fields.models import make_field
from fields.run import (Budget, Cadence, PixelSubset, RunFolder, checkpoint_path, evaluate_views, make_optimizer,
                        running_psnr, save_training_state, scene_fingerprint, set_lr, step_decay, train_loop,
                        training_device)

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
        if c.output is not None:
            RunFolder(c.output).check_new_run()
        check_target_type(c.to)
        self.device = training_device(c.device)
        torch.manual_seed(c.seed)
        self.teacher, self.grid, teacher_meta = load_teacher(c.checkpoint, self.device)
        checkpoint = checkpoint_path(c.checkpoint)  # a run folder stands for its latest checkpoint
        self.teacher_meta = teacher_meta
        self.teacher_info = teacher_record(checkpoint, teacher_meta)
        self.render = dict(teacher_meta.get("render") or {"render_step_size": 5e-3, "cone_angle": 0.0})
        self.scene_path = teacher_scene(teacher_meta, c.scene, c.data_root)
        if c.real_views and self.scene_path is None:
            raise ConvertError(f"--real-views needs the scene the teacher was trained on "
                               f"({teacher_meta.get('scene')!r}), which was not found; pass --scene or --data-root")
        self.downscale = teacher_meta.get("downscale", 1)  # the views at the size the teacher trained on
        train_views = load_scene(self.scene_path, "train", self.downscale) if self.scene_path is not None else None
        self.val_data = self._val_scene()
        self.scene_name = teacher_meta.get("scene") or (self.scene_path.name if self.scene_path else "unknown")
        self.run_folder = RunFolder(c.output) if c.output else RunFolder.new(
            self.scene_name, c.to, suffix=f"-from-{self.teacher_info['type']}")
        self.output = self.run_folder.path
        self.checkpoint_path = self.run_folder.checkpoint

        aabb = [float(v) for v in self.teacher.aabb.tolist()]
        # The teacher's density bias carries the scene's length scale (fields.render.scene_settings).
        student_options = {"density_bias": self.teacher.density_bias, **c.field_options}
        self.student = make_field("radiance", c.to, aabb=aabb, **student_options).to(self.device)
        self.inherited_color_head = c.inherit_color_head and self._inherit_color_head()
        self.optimizer = make_optimizer(self.student, c.lr or type(self.student.backbone).default_lr("radiance"),
                                        WEIGHT_DECAY)

        self.budget = Budget.default(c.max_steps, c.max_time, self.device)
        self.cadence = Cadence(c.log_every, c.val_every, save_every=None, save_interval=c.save_interval or None)
        self.val_pixels = (PixelSubset(self.val_data, c.val_views, c.val_pixels, seed=c.seed)
                           if self.val_data is not None else None)
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
    def _val_scene(self) -> Optional[SceneData]:
        if self.scene_path is None or (self.config.val_views <= 0 and self.config.eval_every <= 0):
            return None
        try:
            return load_scene(self.scene_path, "val", self.downscale)
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
        progress = self.budget.progress(self.step, self.elapsed)
        stage = self.config.stage(progress)
        set_lr(self.optimizer, step_decay(self.step, progress, WARMUP_STEPS))
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
        loss, terms = distillation_loss(stage, self.step - 1, student, teacher, self.config, points)
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
        rgb_mse = float(ray_errors.mean())
        return {"loss": loss.item(), "stage": stage, **terms, "rgb_mse": rgb_mse,
                "psnr_vs_teacher": running_psnr(rgb_mse), "n_samples": len(shared), "n_rays": origins.shape[0],
                "lr": self.optimizer.param_groups[0]["lr"],
                "show": {"stage": stage, "psnr_vs_teacher": f"{running_psnr(rgb_mse):.1f}", "rays": origins.shape[0]}}

    # ----------------------------------------------------------------- bookkeeping
    def meta(self) -> dict:
        """The checkpoint's meta: NerfTrainer's layout (so that every app reads it) plus the teacher."""
        return {"scene": self.scene_name,
                "scene_path": str(Path(self.scene_path).resolve()) if self.scene_path else None,
                "scene_fingerprint": scene_fingerprint(self.scene_path) if self.scene_path else None,
                "downscale": self.downscale, "step": self.step, "train_seconds": self.elapsed, "n_rays": self.n_rays,
                "render": self.render, "config": self.config.to_json(), "distilled_from": self.teacher_info}

    def save(self) -> None:
        save_training_state(self.checkpoint_path, self.student, self.grid, self.optimizer, self.meta())

    def validate(self) -> Optional[dict]:
        """Periodic validation: student PSNR on a fixed subset of pixels of the first --val-views val views."""
        if self.val_pixels is None or not self.val_pixels.views:
            return None
        self.student.eval()
        return {"val_psnr": self.val_pixels.psnr(self.student, self.grid, self.render["render_step_size"],
                                                 self.render["cone_angle"], self.device)}

    def evaluate(self, every: int, progress: bool = False) -> dict:
        """Student PSNR/SSIM on every K-th val view (white background)."""
        self.student.eval()
        return evaluate_views(self.student, self.grid, self.val_data, list(range(0, self.val_data.num_images, every)),
                              self.render["render_step_size"], self.render["cone_angle"], self.device,
                              progress=progress)["mean"]

    def _write_config(self) -> None:
        self.run_folder.write_config(self.config.to_json() | self.budget.to_json() | {
            "device": str(self.device), "scene_name": self.scene_name, "field": self.config.to,
            "teacher": self.teacher_info, "inherited_color_head": self.inherited_color_head,
            "student_parameters": self.student.num_parameters()})

    def describe(self) -> str:
        c, t = self.config, self.teacher_info
        levels = [name for name in ("hard_poses", "hard_rays", "hard_points") if c.level(name)]
        budget = self.budget.describe()
        same = " (its own type: allowed, distils into a fresh field)" if c.to == t["type"] else ""
        return (f"converting {t['type']} teacher ({t['path']}) to {c.to}{same} on {self.device}: "
                f"{self.student.num_parameters() / 1e6:.2f} M parameters, budget {budget}, "
                f"{'training views' if c.real_views else 'random views'}, active learning: "
                f"{', '.join(levels) if levels else 'off'}; run folder {self.output}")

    # ----------------------------------------------------------------- the loop
    def run(self) -> ConvertResult:
        c = self.config
        self._write_config()
        print(self.describe())
        train_loop(self, self.budget, self.cadence, self.run_folder, progress_bar=c.progress)
        print(f"student checkpoint: {self.checkpoint_path} (step {self.step}, {self.elapsed:.0f} s of distillation)")
        final = None
        if self.val_data is not None and c.eval_every > 0:
            final = self.evaluate(c.eval_every, progress=c.progress) | {
                "split": "val", "every": c.eval_every, "background": "white", "step": self.step,
                "train_seconds": self.elapsed, "teacher_psnr": self.teacher_info["psnr"]}
            self.run_folder.write_json("eval_val.json", final)
        return ConvertResult(self.output, self.step, self.elapsed, final, self.teacher_info)
