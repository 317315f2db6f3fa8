"""The one training loop under every trainer (radiance, image and SDF fields) and the PVD converter.

A trainer brings its own step, periodic validation and checkpoint (the :class:`Trainable` protocol); the loop owns
everything around them: the budget, the progress bar, the non-finite guard, the cadence of logging, validation and
checkpoints, the viewer's callbacks, and stopping on Ctrl+C / SIGTERM / SIGHUP with a checkpoint written first.

The time budget is wall-clock time of the whole loop: steps, periodic validation and checkpoint writes (not the
final evaluation after it, nor time the live viewer holds training paused). A resumed run continues the count.
"""
import math
import time
import warnings
from dataclasses import dataclass
from typing import Optional, Protocol

import torch
from tqdm import tqdm

from fields.run.callbacks import TrainingCallbacks
from fields.run.folder import RunFolder
from fields.run.interrupts import Interrupted, deferred_stops

MAX_BAD_STEPS = 50  # consecutive non-finite steps before giving up
DEFAULT_STEPS = 20000
CPU_DEFAULT_TIME = 600.0


@dataclass
class Budget:
    max_steps: Optional[int]
    max_time: Optional[float]  # seconds of wall-clock time (see the module docstring)

    @classmethod
    def default(cls, max_steps: Optional[int], max_time: Optional[float], device: torch.device,
                default_steps: int = DEFAULT_STEPS, cpu_default_time: Optional[float] = CPU_DEFAULT_TIME) -> "Budget":
        """The asked budget, at most ``default_steps`` steps; with neither given on a CPU, also at most
        ``cpu_default_time`` seconds."""
        if max_steps is None and max_time is None and device.type == "cpu":
            return cls(default_steps, cpu_default_time)
        return cls(max_steps or default_steps, max_time)

    def progress(self, step: int, elapsed: float) -> float:
        """Fraction of the budget spent: the larger of the step and the time fraction."""
        fractions = [step / self.max_steps] if self.max_steps else []
        fractions += [elapsed / self.max_time] if self.max_time else []
        return max(fractions) if fractions else 0.0

    def spent(self, step: int, elapsed: float) -> bool:
        return self.progress(step, elapsed) >= 1.0

    def describe(self) -> str:
        parts = ([f"{self.max_steps} steps"] if self.max_steps else []) + (
            [f"{self.max_time:.0f} s wall-clock"] if self.max_time else [])
        return " or ".join(parts)

    def to_json(self) -> dict:
        return {"max_steps": self.max_steps, "max_time": self.max_time}


@dataclass
class Cadence:
    """When the loop logs, validates and writes checkpoints."""

    log_every: int = 50  # steps
    val_every: Optional[int] = None  # steps; None: every val_interval seconds under a time budget, else 2000 steps
    val_interval: float = 120.0
    save_every: Optional[int] = 2000  # steps
    save_interval: Optional[float] = 180.0  # seconds: what a hard kill (SIGKILL, power loss) can lose at most

    def val_due(self, step: int, since_val: float, budget: Budget) -> bool:
        if self.val_every:
            return step % self.val_every == 0
        return since_val >= self.val_interval if budget.max_time else step % 2000 == 0

    def save_due(self, step: int, since_save: float) -> bool:
        return bool((self.save_every and step % self.save_every == 0)
                    or (self.save_interval and since_save >= self.save_interval))


class Trainable(Protocol):
    step: int  # steps taken, across resumes
    elapsed: float  # seconds of the budget spent, across resumes

    def train_step(self) -> Optional[dict]:
        """One optimisation step; it counts itself in ``step`` (the schedule reads the budget's progress at
        ``step`` and ``elapsed``). Returns None when the batch had nothing to learn from, {"bad": True} for a
        non-finite step (not applied), else statistics: "loss" and optionally "psnr" (shown as a running mean) and
        "show" (more for the bar)."""

    def validate(self) -> Optional[dict]:
        """Periodic validation, cheap and bounded: metrics to log, or None when there is nothing to validate on."""

    def save(self) -> None:
        """Write a checkpoint from which the run can continue."""


@dataclass
class LoopResult:
    val_seconds: float  # spent in periodic validation
    save_seconds: float  # spent writing periodic checkpoints


def train_loop(task: Trainable, budget: Budget, cadence: Cadence, run: Optional[RunFolder],
               callbacks: Optional[TrainingCallbacks] = None, progress_bar: bool = True,
               label: Optional[str] = None) -> LoopResult:
    """Steps ``task`` until ``budget`` is spent, then writes its checkpoint. On Ctrl+C, SIGTERM or SIGHUP it
    finishes the step under way, writes a checkpoint (when a step was taken) and raises :class:`Interrupted`."""
    callbacks = callbacks or TrainingCallbacks()
    bar = _ProgressBar(budget, task, progress_bar, label)
    start, start_elapsed, outside = time.perf_counter(), task.elapsed, 0.0
    last_val = last_save = task.elapsed
    val_seconds = save_seconds = 0.0
    bad_steps, psnr_mean = 0, None

    def clock() -> float:
        return start_elapsed + time.perf_counter() - start - outside

    try:
        with deferred_stops() as stop_signals:
            while not budget.spent(task.step, task.elapsed):
                began = time.perf_counter()
                with callbacks.step_guard():
                    stats = task.train_step()
                step_seconds = time.perf_counter() - began
                task.elapsed = clock()
                if stats is not None and stats.get("bad"):
                    bad_steps += 1
                    warnings.warn(f"step {task.step}: non-finite loss or field output, step skipped")
                    if bad_steps >= MAX_BAD_STEPS:
                        raise RuntimeError(f"{MAX_BAD_STEPS} consecutive non-finite losses; try a lower --lr")
                    stats = None
                else:
                    bad_steps = 0
                report = {"step": task.step, "time": task.elapsed, "step_seconds": step_seconds}
                if stats is not None:
                    show = stats.pop("show", {})
                    if "psnr" in stats:
                        psnr_mean = stats["psnr"] if psnr_mean is None else 0.9 * psnr_mean + 0.1 * stats["psnr"]
                        show = {"psnr": f"{psnr_mean:.2f}"} | show
                    bar.show({"loss": f"{stats['loss']:.4g}"} | show)
                    report |= stats | ({"psnr": psnr_mean} if psnr_mean is not None else {})
                    if "n_rays" in stats:  # the viewer shows the training speed
                        report["rays_per_second"] = stats["n_rays"] / max(step_seconds, 1e-9)
                    if run is not None and task.step % cadence.log_every == 0:
                        run.log({"step": task.step, "time": task.elapsed, **stats})
                paused = time.perf_counter()
                callbacks.on_step(task, report)  # may block while the viewer pauses training: not budget time
                outside += time.perf_counter() - paused
                if cadence.val_due(task.step, task.elapsed - last_val, budget):
                    began = time.perf_counter()
                    val = task.validate()
                    val_seconds += time.perf_counter() - began
                    task.elapsed = last_val = clock()
                    if val is not None:
                        if run is not None:
                            run.log({"step": task.step, "time": task.elapsed, **val})
                        bar.write(f"step {task.step} ({task.elapsed:.0f} s): "
                                  + ", ".join(f"{k} {v:.4g}" for k, v in val.items()))
                if cadence.save_due(task.step, task.elapsed - last_save):
                    began = time.perf_counter()
                    task.save()
                    save_seconds += time.perf_counter() - began
                    task.elapsed = last_save = clock()
                bar.advance()
                if stop_signals:
                    raise Interrupted(stop_signals[0])
    except KeyboardInterrupt as stop:
        bar.close()
        if task.step > 0:
            task.save()
            stop.note = f"checkpoint written at step {task.step}" + (f" in {run.path}" if run else "") + (
                "; continue with --resume" if run else "")
        else:
            stop.note = "no step was taken, nothing saved"
        raise
    bar.close()
    task.save()
    return LoopResult(val_seconds, save_seconds)


class _ProgressBar:
    """Counts wall-clock seconds under a time budget (its ETA is then the budget's), else steps."""

    def __init__(self, budget: Budget, task: Trainable, enabled: bool, label: Optional[str]):
        self.task = task
        self.by_time = budget.max_time is not None
        total = budget.max_time if self.by_time else budget.max_steps
        self.shown = task.elapsed if self.by_time else task.step
        fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]" if self.by_time else None
        self.bar = tqdm(total=total, initial=self.shown, disable=not enabled, dynamic_ncols=True,
                        unit="s" if self.by_time else "step", desc=label, bar_format=fmt)
        self.postfix: dict = {}

    def show(self, values: dict) -> None:
        self.postfix = values

    def advance(self) -> None:
        now = self.task.elapsed if self.by_time else self.task.step
        extra = {"step": self.task.step} if self.by_time else {"t": f"{self.task.elapsed:.0f}s"}
        self.bar.set_postfix(extra | self.postfix, refresh=False)
        self.bar.update(min(now, self.bar.total) - self.shown)
        self.shown = min(now, self.bar.total)

    def write(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()


def running_psnr(mse: float) -> float:
    """PSNR of a mean squared error on [0, 1] values (for step statistics)."""
    return -10.0 * math.log10(max(mse, 1e-10))
