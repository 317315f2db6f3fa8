"""The radiance-field trainer shared by every field type: occupancy-grid sampling, packed rendering, Adam with
warm-up and step decay, a ray batch that adapts to a target number of samples, validation, checkpoints."""
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from fields.datasets import RaySampler, composite_background, find_scene, load_scene
from fields.init import select_for_views, training_views
from fields.models import make_field
from fields.render import OccupancyGrid
from fields.render.volume import render_rays
from fields.train.callbacks import TrainingCallbacks
from fields.train.bookkeeping import append_jsonl, budget_spent, val_due, val_indices
from fields.train.checkpointing import load_field, restore_optimizer, save_training_state
from fields.train.method_options import method_field_options
from fields.train.config import TrainNerfConfig
from fields.train.evaluation import evaluate_views
from fields.train.host_memory import keep_freed_host_memory
from fields.train.run_checks import check_run_folder
from fields.train.schedule import lr_factor, training_progress
from fields.io import load_checkpoint

MAX_BAD_STEPS = 50  # consecutive non-finite losses before giving up
CPU_DEFAULT_TIME = 600.0
DEFAULT_STEPS = 20000


class ResumeError(ValueError):
    """A checkpoint that cannot continue this run (another field type or scene, or no checkpoint at all)."""


@dataclass
class TrainResult:
    output: Path
    step: int
    train_seconds: float
    final_metrics: dict | None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def training_device(name: str) -> torch.device:
    """:func:`resolve_device` for a trainer: on the CPU it also lets every step reuse the previous step's memory
    (fields.train.host_memory: 9 % more lego steps in 10 minutes on 2 cores, BENCHMARKS.md) and flushes subnormal
    floats to zero, process-wide. Adam's first moment of a table row that no step touches shrinks by 0.9 per step
    into the subnormal range (a fifth of lego's hash table by step 2000), where x86 arithmetic is many times slower:
    unflushed, lego's Adam step went from 8 to 50 ms and its training steps from ~0.2 to ~0.5 s (BENCHMARKS.md)."""
    device = resolve_device(name)
    if device.type == "cpu":
        keep_freed_host_memory()
        torch.set_flush_denormal(True)
    return device


def resolve_output(config: TrainNerfConfig, scene_name: str) -> Path:
    if config.output is not None:
        return Path(config.output)
    runs = Path("outputs") / scene_name / config.field
    if config.resume:
        existing = sorted(p for p in runs.glob("*") if (p / "checkpoints" / "latest.safetensors").exists())
        if not existing:
            raise ResumeError(f"--resume found no run with a checkpoint under {runs}/; pass --output RUN_DIR")
        return existing[-1]
    return runs / time.strftime("%Y%m%d-%H%M%S")


def _changed_options(saved: dict, asked: dict) -> list[str]:
    """Names of the field options (backbone options included) that differ between two field configs."""
    flat = [{**{k: v for k, v in c.items() if k != "backbone"}, **c.get("backbone", {})} for c in (saved, asked)]
    return sorted(k for k in set(flat[0]) | set(flat[1]) if flat[0].get(k) != flat[1].get(k))


class NerfTrainer:
    def __init__(self, config: TrainNerfConfig, callbacks: TrainingCallbacks | None = None):
        config.check()
        check_run_folder(config.output, config.resume, can_resume=True)
        self.config = config
        self.callbacks = callbacks or TrainingCallbacks()  # e.g. the live viewer (fields.viewer.TrainingLink)
        self.device = training_device(config.device)
        torch.manual_seed(config.seed)
        self.scene_path = find_scene(config.scene, config.data_root)
        self.scene_name = Path(self.scene_path).name
        self.train_data = load_scene(self.scene_path, "train", downscale=config.downscale)
        self.val_data = load_scene(self.scene_path, "val", downscale=config.downscale)
        self.output = resolve_output(config, self.scene_name)
        self.checkpoint_path = self.output / "checkpoints" / "latest.safetensors"

        self.max_steps, self.max_time = self._budgets()
        self.target_samples = config.target_samples or (1 << 18 if self.device.type == "cuda" else 1 << 16)
        aabb = [float(v) for v in self.train_data.aabb]
        self.fresh, field_options = None, method_field_options("radiance", config)
        if config.init == "fresh" and config.resume:  # a resumed run keeps the value selected at its start
            field_options |= self._selected_options()
        elif config.init == "fresh":
            self.fresh = self._select_fresh(aabb, field_options)
            field_options |= self.fresh.options()
        torch.manual_seed(config.seed)
        self.field = make_field("radiance", config.field, aabb=aabb, **field_options).to(self.device)
        self.grid = OccupancyGrid(aabb, resolution=config.grid_resolution, levels=config.grid_levels).to(self.device)
        base_lr = config.lr or type(self.field.backbone).default_lr("radiance")
        groups = self.field.param_groups(base_lr)
        for group in groups:
            group["base_lr"] = group["lr"]  # the schedule scales every group from its own base
        self.optimizer = torch.optim.Adam(
            groups, lr=base_lr, eps=1e-15, weight_decay=config.weight_decay,
            **({"fused": True} if self.device.type in ("cpu", "cuda") else {}),
        )
        self.rays = RaySampler(self.train_data, self.device, seed=config.seed)
        self.step = 0
        self.elapsed = 0.0  # training seconds, accumulated across resumes
        self.n_rays = 1024 if self.device.type == "cuda" else 256
        self.distilled_from = None  # a PVD student's teacher (apps/convert.py), kept by every resume and save
        if config.resume:
            self._resume()
            if self._finished():
                raise ResumeError(f"--resume: {self.output} has already spent this budget (step {self.step}, "
                                  f"{self.elapsed:.0f} s of training); raise --max-steps or --max-time to train on")

    # ----------------------------------------------------------------- setup
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
        path = self.output / "fresh.json"
        if not path.exists():
            raise ResumeError(f"--resume --init fresh: no {path} (was the run started with --init fresh?)")
        saved = json.loads(path.read_text())
        return {**saved["fixed"], saved["option"]: saved["value"]}

    def _budgets(self) -> tuple[int, float | None]:
        c = self.config
        if c.max_steps is None and c.max_time is None and self.device.type == "cpu":
            return DEFAULT_STEPS, CPU_DEFAULT_TIME
        return (c.max_steps or DEFAULT_STEPS), c.max_time

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
        if meta.get("scene") != self.scene_name:
            raise ResumeError(
                f"--resume: {self.checkpoint_path} was trained on scene {meta.get('scene')!r}, not "
                f"{self.scene_name!r}; start a new run with another --output"
            )
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
        progress = training_progress(self.step, self.elapsed, self.max_steps, self.max_time)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(self.step, progress, c.warmup_steps)

        batch = self.rays.sample(self.n_rays)
        origins, directions = batch.origins, batch.directions
        background = torch.rand_like(origins) if c.random_background else torch.ones_like(origins)
        target = composite_background(batch.rgba, background)
        out = render_rays(self.field, self.grid, origins, directions, background,
                          render_step_size=c.render_step_size, cone_angle=c.cone_angle, stratified=True,
                          check_finite=True)
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
        return {"loss": loss_value, "n_samples": out.n_samples, "n_marched": out.n_marched, "n_rays": origins.shape[0],
                "lr": self.optimizer.param_groups[0]["lr"]}

    # ----------------------------------------------------------------- bookkeeping
    def save(self) -> None:
        meta = {
            "scene": self.scene_name,
            "scene_path": str(Path(self.scene_path).resolve()),
            "step": self.step,
            "train_seconds": self.elapsed,
            "n_rays": self.n_rays,
            "render": {"render_step_size": self.config.render_step_size, "cone_angle": self.config.cone_angle},
            "config": self.config.to_json(),
        }
        if self.distilled_from:
            meta["distilled_from"] = self.distilled_from
        save_training_state(self.checkpoint_path, self.field, self.grid, self.optimizer, meta)

    def validate(self, every: int | None = None, count: int | None = None) -> dict:
        """PSNR/SSIM on val views (white background). `every` picks every K-th view, `count` the first few."""
        indices = val_indices(self.val_data.num_images, every, count)
        self.field.eval()
        return evaluate_views(self.field, self.grid, self.val_data, indices, self.config.render_step_size,
                              self.config.cone_angle, self.device)["mean"]

    def _log(self, record: dict) -> None:
        append_jsonl(self.output / "metrics.jsonl", record)

    def _val_due(self, last_val_time: float) -> bool:
        return val_due(self.step, self.elapsed, last_val_time, self.config.val_every, self.max_time)

    def _finished(self) -> bool:
        return budget_spent(self.step, self.elapsed, self.max_steps, self.max_time)

    # ----------------------------------------------------------------- the loop
    def run(self) -> TrainResult:
        c = self.config
        (self.output / "checkpoints").mkdir(parents=True, exist_ok=True)
        fresh = {"fresh": self.fresh.to_json()} if self.fresh is not None else {}
        teacher = {"teacher": self.distilled_from} if self.distilled_from else {}  # the key convert.py writes
        with open(self.output / "config.json", "w") as f:
            json.dump(self.config.to_json() | {"max_steps": self.max_steps, "max_time": self.max_time,
                                               "device": str(self.device), "scene_name": self.scene_name}
                      | fresh | teacher, f, indent=1)
        if self.fresh is not None:
            with open(self.output / "fresh.json", "w") as f:
                json.dump(self.fresh.to_json(), f, indent=1)
        budget = f"{self.max_steps} steps" + (f" or {self.max_time:.0f} s" if self.max_time else "")
        print(f"training {c.field} field on {self.scene_name} ({self.train_data.num_images} views) on {self.device}, "
              f"budget {budget}; {self.field.num_parameters() / 1e6:.2f} M parameters; run folder {self.output}")
        bar = tqdm(total=self.max_steps, initial=self.step, disable=not c.progress, dynamic_ncols=True,
                   unit="step")
        bad_steps, last_val_time, psnr_ema = 0, self.elapsed, None
        interrupted = False
        try:
            while not self._finished():
                with self.callbacks.step_guard():
                    start = time.perf_counter()
                    stats = self.train_step()
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    step_seconds = time.perf_counter() - start
                self.elapsed += step_seconds
                bar.update(1)
                if stats is not None and stats.get("bad"):
                    bad_steps += 1
                    warnings.warn(f"step {self.step}: non-finite loss or field output, step skipped")
                    if bad_steps >= MAX_BAD_STEPS:
                        raise RuntimeError(f"{MAX_BAD_STEPS} consecutive non-finite losses; try a lower --lr")
                    continue
                bad_steps = 0
                if stats is not None:
                    step_psnr = -10.0 * math.log10(max(stats["loss"], 1e-10))
                    psnr_ema = step_psnr if psnr_ema is None else 0.9 * psnr_ema + 0.1 * step_psnr
                    bar.set_postfix(loss=f"{stats['loss']:.4f}", psnr=f"{psnr_ema:.2f}", rays=stats["n_rays"],
                                    t=f"{self.elapsed:.0f}s", refresh=False)
                    if self.step % c.log_every == 0:
                        self._log({"step": self.step, "time": self.elapsed, "psnr": step_psnr, **stats,
                                   "occupied": self.grid.occupied_fraction()})
                step_report = {"step": self.step, "step_seconds": step_seconds}
                if stats is not None:
                    step_report |= {"loss": stats["loss"], "psnr": psnr_ema,
                                    "rays_per_second": stats["n_rays"] / max(step_seconds, 1e-9)}
                self.callbacks.on_step(self, step_report)
                if self._val_due(last_val_time) and c.val_views > 0:
                    last_val_time = self.elapsed
                    val = self.validate(count=c.val_views)
                    self._log({"step": self.step, "time": self.elapsed, "val_psnr": val["psnr"],
                               "val_ssim": val["ssim"]})
                    bar.write(f"step {self.step} ({self.elapsed:.0f} s): val PSNR {val['psnr']:.2f} dB on "
                              f"{c.val_views} views")
                if self.step % c.save_every == 0:
                    self.save()
        except KeyboardInterrupt:
            interrupted = True
            bar.write("interrupted: writing a checkpoint before exiting")
        finally:
            bar.close()
        self.save()
        print(f"checkpoint: {self.checkpoint_path} (step {self.step}, {self.elapsed:.0f} s of training)")
        final = None
        if not interrupted and c.eval_every > 0:
            try:
                final = self.validate(every=c.eval_every)
            except KeyboardInterrupt:
                print("interrupted: final evaluation skipped (the checkpoint is saved; apps/eval.py evaluates it)")
                return TrainResult(self.output, self.step, self.elapsed, None)
            final |= {"split": "val", "every": c.eval_every, "background": "white", "step": self.step,
                      "train_seconds": self.elapsed, "num_parameters": self.field.num_parameters(),
                      "size_mb": self.field.size_mb()} | fresh
            with open(self.output / "eval_val.json", "w") as f:
                json.dump(final, f, indent=1)
            print(f"val (every {c.eval_every}th view, white background): PSNR {final['psnr']:.2f} dB, "
                  f"SSIM {final['ssim']:.4f}")
        return TrainResult(self.output, self.step, self.elapsed, final)
