"""One cell of a benchmark grid: a training run of apps/train_nerf.py in a subprocess, and the figures it wrote.

A cell runs the app itself rather than the trainer in-process, so the grid measures exactly what a user's run does
and needs nothing but the run folder's files. A cell never raises: failures come back as {"error": ...}.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import fields
from fields.cli import app_path

# The final evaluation of a radiance-field run; metrics.json is the name the other trainers use.
RUN_METRICS_FILES = ("eval_val.json", "metrics.json")
METRIC_KEYS = ("psnr", "ssim", "lpips", "train_seconds", "size_mb", "num_parameters", "step")


@dataclass(frozen=True)
class Cell:
    scene: str
    """Scene name or path, as given on the command line."""
    field: str
    seed: int

    @property
    def key(self) -> str:
        """scene/field/seedK: the cell's folder under cells/ and its name in the tables."""
        return f"{Path(self.scene).name}/{self.field}/seed{self.seed}"


@dataclass(frozen=True)
class CellSettings:
    """What every cell of a grid shares."""
    output: str
    """The grid's folder: runs go to <output>/cells/<cell key>, logs to <output>/logs."""
    max_steps: Optional[int] = None
    max_time: Optional[float] = None
    device: str = "auto"
    data_root: Optional[str] = None
    train_options: tuple[tuple[str, str], ...] = ()
    """More train_nerf.py options as (name, value) pairs, e.g. (("target_samples", "8192"),
    ("field_options", "log2_hashmap_size 17"))."""
    threads: Optional[int] = None
    """Torch threads of each run (OMP_NUM_THREADS); None leaves the environment's."""


def run_folder(cell: Cell, settings: CellSettings) -> Path:
    return Path(settings.output) / "cells" / cell.key


def log_path(cell: Cell, settings: CellSettings) -> Path:
    return Path(settings.output) / "logs" / (cell.key.replace("/", "_") + ".log")


def read_run_metrics(run: Path) -> Optional[dict]:
    """The final figures of a finished run folder (PSNR, SSIM, LPIPS when measured, training seconds, model size,
    parameters, steps), or None while it has none."""
    for name in RUN_METRICS_FILES:
        path = run / name
        if path.is_file():
            record = json.loads(path.read_text())
            return {key: record.get(key) for key in METRIC_KEYS}
    return None


def train_command(cell: Cell, settings: CellSettings, resume: bool) -> list[str]:
    command = [sys.executable, str(app_path("train-nerf")), "--scene", cell.scene, "--field", cell.field,
               "--seed", str(cell.seed), "--output", str(run_folder(cell, settings)), "--device", settings.device,
               "--no-progress"]
    for name in ("max_steps", "max_time", "data_root"):
        if getattr(settings, name) is not None:
            command += ["--" + name.replace("_", "-"), str(getattr(settings, name))]
    for name, value in settings.train_options:  # a value of several words is several arguments ("10 3")
        command += ["--" + name.replace("_", "-"), *value.split()]
    return command + (["--resume"] if resume else [])


def run_cell(cell: Cell, settings: CellSettings) -> dict:
    """Trains the cell (continuing an interrupted run of it) unless its run folder is already evaluated; returns
    {"metrics": ...} or {"error": ...}."""
    run = run_folder(cell, settings)
    try:
        finished = read_run_metrics(run)
        if finished is not None:
            return {"metrics": finished}
        resume = (run / "checkpoints" / "latest.safetensors").is_file()
        log = log_path(cell, settings)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # the run imports the same fields package as this process, installed or a checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(fields.__file__).parents[1]),
                                                          env.get("PYTHONPATH")]))
        if settings.threads is not None:
            env["OMP_NUM_THREADS"] = str(settings.threads)
        with open(log, "a") as log_file:
            code = _run_to_end(train_command(cell, settings, resume), log_file, env)
        if code != 0:
            return {"error": f"train_nerf.py exited with status {code}: {_last_line(log)} (log: {log})"}
        metrics = read_run_metrics(run)
        if metrics is None:
            return {"error": f"the run stopped before its final evaluation (interrupted?); a rerun continues it "
                             f"(log: {log})"}
        return {"metrics": metrics}
    except (OSError, ValueError) as error:  # unwritable folder, unreadable metrics file
        return {"error": f"{type(error).__name__}: {error}"}


def _run_to_end(command: list[str], log_file, env: dict) -> int:
    """Runs ``command`` with its output in ``log_file``. On Ctrl+C the run (which got the same signal) is given the
    time to write its checkpoint before the interrupt goes on."""
    with subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env) as process:
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.wait()
            raise


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
