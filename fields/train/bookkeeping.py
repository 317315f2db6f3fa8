"""Run bookkeeping shared by the radiance trainer and the PVD converter: budgets, validation cadence, logs."""
import json
from pathlib import Path


def val_indices(n_views: int, every: int | None = None, count: int | None = None) -> list[int]:
    """Every ``every``-th view, or the first ``count`` views (all when neither is given)."""
    return list(range(0, n_views, every)) if every else list(range(min(count or n_views, n_views)))


def val_due(step: int, elapsed: float, last_val_time: float, val_every: int | None, max_time: float | None) -> bool:
    """Validate every ``val_every`` steps; by default every 120 s under a time budget, else every 2000 steps."""
    if val_every:
        return step % val_every == 0
    if max_time:
        return elapsed - last_val_time >= 120.0
    return step % 2000 == 0


def budget_spent(step: int, elapsed: float, max_steps: int, max_time: float | None) -> bool:
    return step >= max_steps or (max_time is not None and elapsed >= max_time)


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
