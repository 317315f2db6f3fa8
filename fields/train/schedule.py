"""Learning-rate schedule: linear warm-up, then steps down by 0.33 at 1/2, 3/4 and 9/10 of training.

Progress is the larger of step/max_steps and elapsed/max_time, so the same schedule serves step budgets (GPU) and
wall-clock budgets (CPU) alike.
"""

MILESTONES = (0.5, 0.75, 0.9)
DECAY = 0.33


def lr_factor(step: int, progress: float, warmup_steps: int = 100) -> float:
    warmup = min(1.0, 0.01 + 0.99 * step / warmup_steps) if warmup_steps > 0 else 1.0
    passed = sum(progress >= m for m in MILESTONES)
    return warmup * DECAY**passed


def training_progress(step: int, elapsed: float, max_steps: int | None, max_time: float | None) -> float:
    fractions = []
    if max_steps:
        fractions.append(step / max_steps)
    if max_time:
        fractions.append(elapsed / max_time)
    return max(fractions) if fractions else 0.0
