"""The radiance-field trainer shared by every field type: occupancy-grid sampling, packed rendering, Adam with
warm-up and step decay, a ray batch that adapts to a target number of samples, validation, checkpoints."""
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fields.datasets import RaySampler, composite_background, find_scene, load_scene
from fields.init import select_for_views, training_views
from fields.models import make_field
from fields.render import OccupancyGrid
from fields.render.scene_settings import settings_for_run
from fields.render.volume import render_rays
from fields.run import (Budget, Cadence, PixelSubset, RunFolder, TrainingCallbacks, evaluate_views,
                        evaluation_downscale, load_field, make_optimizer, restore_optimizer, running_psnr,
                        save_training_state, scene_fingerprint, set_lr, step_decay, train_loop, trained_scene,
                        training_device)
from fields.io import load_checkpoint
from fields.lpips import lpips_or_reason
from fields.run.host_memory import usual_host_memory
from fields.train.config import TrainNerfConfig
from fields.train.method_options import method_field_options


DEFAULT_SCENE = "lego"


class ResumeError(ValueError):
    """A checkpoint that cannot continue this run (another field type or scene, or no checkpoint at all)."""


@dataclass
class TrainResult:
    output: Path
    step: int
    train_seconds: float
    final_metrics: dict | None


def resolve_output(config: TrainNerfConfig, scene_name: str) -> RunFolder:
    if config.output is not None:
        return RunFolder(config.output)
    if config.resume:
        latest = RunFolder.latest(scene_name, config.field)
        if latest is None:
            raise ResumeError(f"--resume found no run with a checkpoint under outputs/{scene_name}/{config.field}/; "
                              f"pass --output RUN_DIR")
        return latest
    return RunFolder.new(scene_name, config.field)


def _changed_options(saved: dict, asked: dict) -> list[str]:
    """Names of the field options (backbone options included) that differ between two field configs."""
    flat = [{**{k: v for k, v in c.items() if k != "backbone"}, **c.get("backbone", {})} for c in (saved, asked)]
    return sorted(k for k in set(flat[0]) | set(flat[1]) if flat[0].get(k) != flat[1].get(k))


class NerfTrainer:
    """Trains a radiance field on a posed-image scene; :meth:`run` drives it through :func:`fields.run.train_loop`."""

    def __init__(self, config: TrainNerfConfig, callbacks: TrainingCallbacks | None = None):
        config.check()
        if config.output is not None:
            RunFolder(config.output).check_new_run(config.resume, can_resume=True)
        self.config = config
        self.callbacks = callbacks or TrainingCallbacks()  # e.g. the live viewer (fields.viewer.TrainingLink)
        self.device = training_device(config.device)
        torch.manual_seed(config.seed)
        self.scene_path = self._scene(config)
        self.scene_name = Path(self.scene_path).name
        with usual_host_memory():  # decoding buffers must not stay in the heap the training steps keep
            self.train_data = load_scene(self.scene_path, "train", downscale=config.downscale,
                                         device=self.device.type, cache_dir=config.image_cache)
            self.val_data = load_scene(self.scene_path, "val", downscale=self.train_data.downscale,
                                       cache_dir=config.image_cache)
        self.downscale = self.train_data.downscale
        # "auto" render options are chosen from the scene once; from here on the config holds numbers.
        self.render_settings = settings_for_run(self.train_data, self.scene_path, config.render_step_size,
                                                config.cone_angle, config.grid_levels, config.grid_resolution)
        chosen = self.render_settings
        self.config = config = replace(config, render_step_size=chosen.render_step_size, cone_angle=chosen.cone_angle,
                                       grid_levels=chosen.grid_levels, grid_resolution=chosen.grid_resolution)
        self.run_folder = resolve_output(config, self.scene_name)
        self.output = self.run_folder.path
        self.checkpoint_path = self.run_folder.checkpoint

        self.budget = Budget.default(config.max_steps, config.max_time, self.device)
        self.cadence = Cadence(config.log_every, config.val_every, save_every=config.save_every,
                               save_interval=config.save_interval or None)
        self.val_pixels = PixelSubset(self.val_data, config.val_views, config.val_pixels, seed=config.seed)
        self.target_samples = config.target_samples or (1 << 18 if self.device.type == "cuda" else 1 << 16)
        aabb = list(self.render_settings.scene_aabb)
        self.fresh, field_options = None, method_field_options("radiance", config)
        field_options["density_bias"] = self.render_settings.density_bias  # the scene's length scale
        if config.init == "fresh" and config.resume:  # a resumed run keeps the value selected at its start
            field_options |= self._selected_options()
        elif config.init == "fresh":
            self.fresh = self._select_fresh(aabb, field_options)
            field_options |= self.fresh.options()
        if config.appearance_dim:
            field_options |= {"appearance_dim": config.appearance_dim, "appearance_count": self.train_data.num_images}
        torch.manual_seed(config.seed)
        self.field = make_field("radiance", config.field, aabb=aabb, **field_options).to(self.device)
        self.grid = OccupancyGrid(self.render_settings.grid_aabb, resolution=config.grid_resolution,
                                  levels=config.grid_levels).to(self.device)
        self.optimizer = make_optimizer(self.field, config.lr or type(self.field.backbone).default_lr("radiance"),
                                        config.weight_decay)
        self.rays = RaySampler(self.train_data, self.device, seed=config.seed)
        self.step = 0
        self.elapsed = 0.0  # seconds of the budget spent, accumulated across resumes
        self.n_rays = 1024 if self.device.type == "cuda" else 256
        self.distilled_from = None  # a PVD student's teacher (apps/convert.py), kept by every resume and save
        if config.resume:
            self._resume()
            if self.budget.spent(self.step, self.elapsed):
                raise ResumeError(f"--resume: {self.output} has already spent this budget (step {self.step}, "
                                  f"{self.elapsed:.0f} s of training); raise --max-steps or --max-time to train on")

    # ----------------------------------------------------------------- setup
    @staticmethod
    def _scene(config: TrainNerfConfig) -> Path:
        """--scene; without it lego, or for --resume of a given run folder the scene that run was trained on."""
        resumed = RunFolder(config.output) if config.resume and config.output is not None else None
        if config.scene is None and resumed is not None and resumed.holds_trained_run():
            return trained_scene(load_checkpoint(resumed.checkpoint)[1], None, config.data_root)
        return find_scene(config.scene or DEFAULT_SCENE, config.data_root)

    def _select_fresh(self, aabb: list[float], field_options: dict):
        c = self.config
        if c.fresh_views < 1 or c.fresh_side < 8:
            raise ValueError("--fresh-views must be at least 1 and --fresh-side at least 8")
        cameras, images = training_views(self.train_data, c.fresh_views, c.fresh_side)
        result = select_for_views(c.field, cameras, images, aabb, field_options, c.fresh_candidates, c.fresh_seeds,
                                  c.fresh_crop, device=self.device)
        print(result.table())
        return result

    def _selected_options(self) -> dict:
        saved = self.run_folder.read_json("fresh.json")
        if saved is None:
            raise ResumeError(f"--resume --init fresh: no {self.run_folder.file('fresh.json')} (was the run started "
                              f"with --init fresh?)")
        return {**saved["fixed"], saved["option"]: saved["value"]}

    def _check_same_scene(self, meta: dict) -> None:
        """The scene of the checkpoint, also after its folder was moved or renamed (same camera files)."""
        recorded = meta.get("scene_fingerprint")
        if recorded is not None and recorded == scene_fingerprint(self.scene_path):
            if meta.get("scene_path") != str(Path(self.scene_path).resolve()):
                print(f"--resume: the scene moved from {meta.get('scene_path')} to {self.scene_path}; continuing")
            return
        if recorded is None and meta.get("scene") == self.scene_name:
            return  # a checkpoint written before fingerprints were recorded: the name has to do
        raise ResumeError(
            f"--resume: {self.checkpoint_path} was trained on scene {meta.get('scene')!r} at "
            f"{meta.get('scene_path')}, and {self.scene_path} holds other cameras; pass that scene with --scene "
            f"(also when it was moved), or start a new run with another --output")

    def _resume(self) -> None:
        if not self.checkpoint_path.exists():
            raise ResumeError(f"--resume: no checkpoint at {self.checkpoint_path}")
        tensors, meta = load_checkpoint(self.checkpoint_path)
        signal = meta.get("field", {}).get("signal", "radiance")
        if signal != "radiance":
            raise ResumeError(f"--resume: {self.checkpoint_path} holds an {signal} field (written by apps/train_"
                              f"{signal}.py), not a radiance field; start a new run with another --output")
        if meta.get("field", {}).get("type") != self.config.field:
            raise ResumeError(
                f"--resume: {self.checkpoint_path} holds a {meta.get('field', {}).get('type')!r} field, "
                f"but --field {self.config.field} was asked for; start a new run with another --output"
            )
        self._check_same_scene(meta)
        field, grid, _ = load_field(self.checkpoint_path, self.device)
        changed = _changed_options(field.config, self.field.config)
        if changed:
            raise ResumeError(f"--resume: {self.checkpoint_path} holds a field built with other options "
                              f"({', '.join(changed)} differ); resume with the options the run started with (its "
                              f"config.json), or start a new run with another --output")
        self.field.load_state_dict(field.state_dict())
        if (grid.resolution, grid.levels) != (self.grid.resolution, self.grid.levels):
            # The checkpoint's grid is what the field was trained (or, for a PVD student, distilled) with.
            print(f"--resume: continuing with the checkpoint's {grid.resolution}^3 x {grid.levels} occupancy grid "
                  f"(not --grid-resolution {self.config.grid_resolution} --grid-levels {self.config.grid_levels})")
        self.grid = grid
        restore_optimizer(self.optimizer, tensors, meta)
        self.step = int(meta["step"])
        self.elapsed = float(meta.get("train_seconds", 0.0))
        self.n_rays = int(meta.get("n_rays", self.n_rays))
        self.distilled_from = meta.get("distilled_from")
        print(f"resumed {self.checkpoint_path} at step {self.step}")

    # ----------------------------------------------------------------- one step
    def _occupancy_eval(self, x: torch.Tensor) -> torch.Tensor:
        return self.field.density(x)[0] * self.config.render_step_size

    def train_step(self) -> dict | None:
        c = self.config
        self.field.train()
        with torch.no_grad():
            self.grid.update(self.step, self._occupancy_eval)
        set_lr(self.optimizer, step_decay(self.step, self.budget.progress(self.step, self.elapsed), c.warmup_steps))

        batch = self.rays.sample(self.n_rays)
        origins, directions = batch.origins, batch.directions
        background = torch.rand_like(origins) if c.random_background else torch.ones_like(origins)
        target = composite_background(batch.rgba, background)
        out = render_rays(self.field, self.grid, origins, directions, background,
                          render_step_size=c.render_step_size, cone_angle=c.cone_angle, stratified=True,
                          check_finite=True, image_indices=batch.image_indices if c.appearance_dim else None)
        self.step += 1
        if out.n_samples == 0:
            return None  # nothing occupied along these rays: nothing to learn from this batch
        loss = torch.nn.functional.mse_loss(out.rgb, target)
        self.optimizer.zero_grad(set_to_none=True)
        # The backward pass is queued before the host reads the loss and the sum of the field outputs, in one read:
        # on a GPU every read waits for the queued work, and training is bound by the host's launches
        # (bench.nerf_profile). A non-finite step's gradients are simply not applied.
        loss.backward()
        loss_value, field_sum = torch.stack([loss.detach(), out.field_sum]).tolist()
        if not (math.isfinite(loss_value) and math.isfinite(field_sum)):
            return {"bad": True}
        self.optimizer.step()
        # Adapt the ray batch so that the samples per step stay near the target.
        ratio = self.target_samples / max(out.n_samples, 1)
        self.n_rays = int(min(max(self.n_rays * ratio, 64), 1 << 18))
        return {"loss": loss_value, "psnr": running_psnr(loss_value), "n_samples": out.n_samples,
                "n_marched": out.n_marched, "n_rays": origins.shape[0], "lr": self.optimizer.param_groups[0]["lr"],
                "show": {"rays": origins.shape[0]}}

    # ----------------------------------------------------------------- checkpoints and validation
    def save(self) -> None:
        meta = {
            "scene": self.scene_name,
            "scene_path": str(Path(self.scene_path).resolve()),
            "scene_fingerprint": scene_fingerprint(self.scene_path),
            "downscale": self.downscale,
            "step": self.step,
            "train_seconds": self.elapsed,
            "n_rays": self.n_rays,
            # the renderer's keyword arguments, which every app passes on as they are
            "render": {"render_step_size": self.config.render_step_size, "cone_angle": self.config.cone_angle},
            "render_settings": self.render_settings.to_json(),  # and why they were chosen
            "config": self.config.to_json(),
        }
        if self.distilled_from:
            meta["distilled_from"] = self.distilled_from
        save_training_state(self.checkpoint_path, self.field, self.grid, self.optimizer, meta)

    def validate(self) -> dict | None:
        """Periodic validation: PSNR on a fixed subset of pixels of the first --val-views val views."""
        if not self.val_pixels.views:
            return None
        self.field.eval()
        value = self.val_pixels.psnr(self.field, self.grid, self.config.render_step_size, self.config.cone_angle,
                                     self.device)
        return {"val_psnr": value}

    def evaluate(self, every: int | None = None, count: int | None = None, progress: bool = False,
                 scene=None, lpips_model=None) -> dict:
        """PSNR/SSIM of whole views of ``scene`` (default: the val split; white background): every K-th view, or
        the first ``count``."""
        scene = scene or self.val_data
        indices = list(range(0, scene.num_images, every)) if every else list(
            range(min(count or scene.num_images, scene.num_images)))
        self.field.eval()
        return evaluate_views(self.field, self.grid, scene, indices, self.config.render_step_size,
                              self.config.cone_angle, self.device, progress=progress,
                              lpips_model=lpips_model)["mean"]

    # ----------------------------------------------------------------- the run
    def run(self) -> TrainResult:
        c = self.config
        fresh = {"fresh": self.fresh.to_json()} if self.fresh is not None else {}
        teacher = {"teacher": self.distilled_from} if self.distilled_from else {}  # the key convert.py writes
        self.run_folder.write_config(c.to_json() | self.budget.to_json() | {
            "device": str(self.device), "scene_name": self.scene_name, "downscale": self.downscale,
            "render_settings": self.render_settings.to_json()} | fresh | teacher, resume=c.resume)
        if self.fresh is not None:
            self.run_folder.write_json("fresh.json", self.fresh.to_json())
        print(f"training {c.field} field on {self.scene_name} ({self.train_data.num_images} views of "
              f"{self.train_data.width}x{self.train_data.height}, downscale {self.downscale}) on {self.device}, "
              f"budget {self.budget.describe()}; {self.field.num_parameters() / 1e6:.2f} M parameters; run folder "
              f"{self.output}")
        loop = train_loop(self, self.budget, self.cadence, self.run_folder, self.callbacks, c.progress)
        print(f"checkpoint: {self.checkpoint_path} (step {self.step}, {self.elapsed:.0f} s; periodic validation "
              f"{loop.val_seconds:.0f} s, {100 * loop.val_seconds / max(self.elapsed, 1e-9):.1f} % of it)")
        if c.eval_every <= 0:
            return TrainResult(self.output, self.step, self.elapsed, None)
        extra = c.eval_downscale or (1 if self.val_data.source_format == "blender"  # NeRF-synthetic's protocol
                                     else evaluation_downscale(self.val_data.width, self.val_data.height, self.device))
        scene = self.val_data if extra == 1 else load_scene(self.scene_path, "val", downscale=self.downscale * extra)
        lpips_model, lpips_missing = lpips_or_reason(None, self.device, min(scene.height, scene.width))
        final = self.evaluate(every=c.eval_every, progress=c.progress, scene=scene, lpips_model=lpips_model)
        final |= {"lpips_missing": lpips_missing} if lpips_missing else {}
        final |= {"split": "val", "every": c.eval_every, "downscale": scene.downscale,
                  "background": "white", "step": self.step,
                  "train_seconds": self.elapsed, "num_parameters": self.field.num_parameters(),
                  "size_mb": self.field.size_mb()} | fresh
        self.run_folder.write_json("eval_val.json", final)
        lpips_text = f", LPIPS {final['lpips']:.4f}" if "lpips" in final else ""
        print(f"val (every {c.eval_every}th view at {scene.width}x{scene.height}, white background): PSNR "
              f"{final['psnr']:.2f} dB, "
              f"SSIM {final['ssim']:.4f}{lpips_text}")
        return TrainResult(self.output, self.step, self.elapsed, final)
