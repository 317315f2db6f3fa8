"""A training run survives what users and job schedulers do to it: SIGTERM writes a checkpoint and exits 143, and
a SIGKILL loses at most the steps since the last time-cadence checkpoint; both runs resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fields.run import load_field

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--field-options", "log2_hashmap_size", "14", "finest_resolution", "256", "n_levels", "8"]


def start_training(scene: Path | None, output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "apps" / "train_nerf.py"), *(["--scene", str(scene)] if scene else []),
               "--output", str(output), "--device", "cpu", "--no-progress", "--val-views", "0", "--eval-every", "0", "--log-every", "2",
               "--target-samples", "8192", "--grid-resolution", "32", *SMALL, *extra]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged_steps(output: Path) -> int:
    log = output / "metrics.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return max((json.loads(line)["step"] for line in lines), default=0)


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def checkpoint_step(output: Path) -> int:
    return int(load_field(output)[2]["step"])


def resume(output: Path, steps: int) -> subprocess.CompletedProcess:
    """Without --scene: a resumed run finds the scene it was trained on."""
    process = start_training(None, output, "--resume", "--max-steps", str(steps))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return subprocess.CompletedProcess(process.args, 0, out, err)


def test_sigterm_writes_a_checkpoint_and_the_run_resumes(procedural_scene, tmp_path):
    output = tmp_path / "run"
    process = start_training(procedural_scene, output, "--max-steps", "100000")
    wait_until(lambda: logged_steps(output) >= 6)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    stopped_at = checkpoint_step(output)
    assert stopped_at >= 6 and f"checkpoint written at step {stopped_at}" in err and "--resume" in err
    assert err.strip().splitlines()[-1].startswith("interrupted (SIGTERM)")
    resume(output, stopped_at + 4)
    assert checkpoint_step(output) == stopped_at + 4
    history = json.loads((output / "config.json").read_text())["history"]
    assert len(history) == 1  # the first run's config is kept


def test_sigkill_loses_at_most_the_steps_since_the_last_timed_checkpoint(procedural_scene, tmp_path):
    output = tmp_path / "run"
    process = start_training(procedural_scene, output, "--max-steps", "100000", "--save-interval", "0.5")
    wait_until(lambda: (output / "checkpoints" / "latest.safetensors").exists() and logged_steps(output) >= 10)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    saved = checkpoint_step(output)  # the atomic writes leave a whole checkpoint, whenever the kill came
    assert 1 <= saved <= logged_steps(output) + 2
    resume(output, saved + 3)
    assert checkpoint_step(output) == saved + 3
