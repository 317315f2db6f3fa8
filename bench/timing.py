"""Small timing helpers shared by the benchmarks: best-of-N wall time, and JSON plus a readable table."""
import json
import time
from typing import Callable, Iterable

import torch


def best_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync: Callable[[], None] = lambda: None,
              clock: Callable[[], float] = time.perf_counter):
    """Best seconds of ``fn`` over ``repeats`` runs (after ``warmup`` runs); the minimum is the least noisy estimate
    on a shared machine. ``clock``: wall time by default; ``time.process_time`` counts the CPU time of the process
    instead, which other processes on a loaded machine barely disturb (meaningful with one thread: idle threads
    spinning in a parallel region would count as busy)."""
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        sync()
        best = min(best, clock() - start)
    return best


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work, so that a wall clock read next counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def print_results(title: str, rows: Iterable[dict], columns: list[str]) -> None:
    """Prints ``rows`` as a table and then as one JSON document (machine-readable figures)."""
    rows = list(rows)
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) if rows else len(c) for c in columns]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))
    print(json.dumps({"benchmark": title, "results": rows}, indent=1))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def new_run_folder(name: str) -> str:
    """outputs/<name>/<time>: a folder of its own for each benchmark run, since the trainers refuse to write over a
    trained run."""
    return f"outputs/{name}/{time.strftime('%Y%m%d-%H%M%S')}"


def even_marks(budget: float, points: int) -> list[float]:
    return [budget * (i + 1) / points for i in range(points)]


def train_with_marks(trainer, marks: list[float], measure: Callable[[], dict]) -> list[dict]:
    """Steps ``trainer`` (a NerfTrainer or Distiller) for ``marks[-1]`` seconds of step time and calls ``measure()``
    at each mark, its clock paused. Rows: {"train_s", "steps", **measure()}, printed as they come."""
    marks, rows = list(marks), []
    while marks:
        start = time.perf_counter()
        trainer.train_step()
        synchronize(trainer.device)
        trainer.elapsed += time.perf_counter() - start
        if trainer.elapsed >= marks[0]:
            marks.pop(0)
            rows.append({"train_s": round(trainer.elapsed, 1), "steps": trainer.step, **measure()})
            print(f"  {rows[-1]}", flush=True)
    return rows
