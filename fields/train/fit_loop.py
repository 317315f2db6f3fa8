"""The loop shared by the coordinate-fitting trainers (images, SDFs): budgets, Adam with per-group learning rates
and a cosine decay, progress bar, skipped non-finite steps, the run folder."""
import json
import math
import time
import warnings
from pathlib import Path

import torch
from tqdm import tqdm

from fields.train.schedule import training_progress

MAX_BAD_STEPS = 50
FINAL_LR_FRACTION = 0.1


def make_optimizer(field, lr: float) -> torch.optim.Adam:
    groups = field.param_groups(lr)
    for group in groups:
        group["base_lr"] = group["lr"]
    return torch.optim.Adam(groups, lr=lr, eps=1e-15)


def set_cosine_lr(optimizer, progress: float) -> None:
    """Cosine decay from each group's base rate to FINAL_LR_FRACTION of it."""
    factor = FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def run_fit(step_fn, optimizer, max_steps: int, max_time: float | None, progress_bar: bool, label: str) -> dict:
    """Calls ``step_fn() -> loss tensor`` until the budget is spent; skips (and counts) non-finite losses. Ctrl+C
    ends training early, and the caller goes on to save what was trained.
    Returns {"steps", "train_seconds", "final_loss", "skipped_steps", "interrupted"}."""
    step, elapsed, skipped, bad_run, last_loss, interrupted = 0, 0.0, 0, 0, float("nan"), False
    bar = tqdm(total=max_steps, disable=not progress_bar, dynamic_ncols=True, unit="step", desc=label)
    try:
        while step < max_steps and (max_time is None or elapsed < max_time):
            start = time.perf_counter()
            set_cosine_lr(optimizer, training_progress(step, elapsed, max_steps, max_time))
            loss = step_fn()
            optimizer.zero_grad(set_to_none=True)
            if torch.isfinite(loss):
                loss.backward()
                optimizer.step()
                last_loss, bad_run = loss.item(), 0
            else:
                skipped, bad_run = skipped + 1, bad_run + 1
                warnings.warn(f"step {step}: non-finite loss, step skipped")
                if bad_run >= MAX_BAD_STEPS:
                    raise RuntimeError(f"{MAX_BAD_STEPS} consecutive non-finite losses; try a lower --lr")
            step += 1
            elapsed += time.perf_counter() - start
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{last_loss:.3g}", t=f"{elapsed:.0f}s", refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted at step {step}: saving the field trained so far")
    bar.close()
    return {"steps": step, "train_seconds": elapsed, "final_loss": last_loss, "skipped_steps": skipped,
            "interrupted": interrupted}


def default_output(kind: str, name: str, field: str) -> Path:
    return Path("outputs") / kind / name / field / time.strftime("%Y%m%d-%H%M%S")


def finite_json(value):
    """``value`` with every non-finite float (an infinite Chamfer distance, say) as None: strict JSON has no NaN or
    Infinity, and other tools refuse files that hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(finite_json(content), indent=1))
    tmp.replace(path)
