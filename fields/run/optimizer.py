"""Adam over a field's parameter groups and the two learning-rate schedules the trainers use.

Progress is the larger of step/max_steps and elapsed/max_time (:meth:`fields.run.loop.Budget.progress`), so one
schedule serves step budgets (GPU) and wall-clock budgets (CPU) alike.

- ``step_decay``: linear warm-up, then down by 0.33 at 1/2, 3/4 and 9/10 of training (radiance fields, PVD).
- ``cosine``: cosine decay from each group's rate to a tenth of it (image and SDF fields).
"""
import math

import torch

MILESTONES = (0.5, 0.75, 0.9)
DECAY = 0.33
FINAL_COSINE_FRACTION = 0.1


def make_optimizer(field, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam over ``field.param_groups(lr)``; each group keeps its own rate as ``base_lr`` for the schedules."""
    groups = field.param_groups(lr)
    for group in groups:
        group["base_lr"] = group["lr"]
    device = next(field.parameters()).device
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    return torch.optim.Adam(groups, lr=lr, eps=1e-15, weight_decay=weight_decay, **fused)


def step_decay(step: int, progress: float, warmup_steps: int = 100) -> float:
    warmup = min(1.0, 0.01 + 0.99 * step / warmup_steps) if warmup_steps > 0 else 1.0
    passed = sum(progress >= m for m in MILESTONES)
    return warmup * DECAY**passed


def cosine(progress: float) -> float:
    return FINAL_COSINE_FRACTION + (1 - FINAL_COSINE_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every group at ``factor`` times its base rate."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
