"""apps/benchmark.py: bad grids fail before any work, and a tiny grid gives the same table on local worker processes
and on a Ray cluster, and resumes without training again."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ["--device", "cpu", "--train-options", "target_samples", "4096", "grid_resolution", "32", "eval_every",
            "3", "val_views", "0", "field_options", "log2_hashmap_size 12"]


# Ray keeps an authentication token in ~/.ray; one left by an earlier cluster makes a new head refuse this run's
# drivers, so the head and every driver here share a home of their own.
RAY_HOME = Path(tempfile.mkdtemp(prefix="rayhome", dir="/tmp"))


def benchmark(*args, env=None, timeout=600):
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HOME": str(RAY_HOME)} | (env or {})
    return subprocess.run([sys.executable, "-m", "fields", "benchmark", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def data_root(procedural_scene, tmp_path_factory):
    """Two scenes (the procedural one under two names)."""
    root = tmp_path_factory.mktemp("data")
    for name in ("scene_a", "scene_b"):
        (root / name).symlink_to(procedural_scene, target_is_directory=True)
    return root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on 127.0.0.1 with 2 CPUs, in its own session so that only its processes are stopped after."""
    pytest.importorskip("ray")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 characters
    log = open(tmp_path / "ray_head.log", "w")
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", temp_dir, "--dashboard-agent-listen-port", str(_free_port())],
        env=os.environ | {"PYTHONPATH": str(ROOT), "HOME": str(RAY_HOME)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert head.poll() is None, (tmp_path / "ray_head.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops the processes it started
        head.wait(timeout=120)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_bad_grids_fail_before_any_work(data_root, tmp_path):
    output = tmp_path / "grid"
    scene = benchmark("--scenes", "scene_a", "lego_typo", "--fields", "hash", "--data-root", data_root,
                      "--output", output)
    assert scene.returncode == 2
    assert "unknown scene 'lego_typo'" in scene.stderr and "scene_a, scene_b" in scene.stderr
    field = benchmark("--scenes", "scene_a", "--fields", "hash", "nerf", "--data-root", data_root, "--output", output)
    assert field.returncode == 2 and "unknown field type nerf; valid:" in field.stderr and "rbf" in field.stderr
    ray = benchmark("--scenes", "scene_a", "--fields", "hash", "--data-root", data_root, "--output", output,
                    "--ray-address", f"127.0.0.1:{_free_port()}")
    assert ray.returncode == 2 and "cannot reach a Ray cluster at 127.0.0.1:" in ray.stderr
    option = benchmark("--scenes", "scene_a", "--fields", "hash", "--data-root", data_root, "--output", output,
                       "--train-options", "max_steps", "5", "target_sample", "8")
    assert option.returncode == 2 and "--train-options max_steps, target_sample: not a train_nerf.py option" in (
        option.stderr) and "target_samples" in option.stderr
    assert all(result.stderr.startswith("error: ") for result in (scene, field, ray, option))
    assert not output.exists()


def _table(output: Path) -> dict:
    return json.loads((output / "results.json").read_text())


def _without_times(table: dict) -> dict:
    """The table less the wall-clock figures, which differ from run to run."""
    def strip(record):
        return {k: v for k, v in record.items() if not k.startswith("train_seconds")}
    return {"rows": [strip(row) for row in table["rows"]],
            "cells": {key: strip(cell) for key, cell in table["cells"].items()}, "failed": table["failed"]}


@pytest.mark.slow
def test_local_and_ray_backends_give_the_same_table_and_reruns_resume(data_root, ray_head, tmp_path):
    grid = ["--scenes", "scene_a", "scene_b", "--fields", "hash", "rbf", "--data-root", data_root, *TINY_RUN]
    local = benchmark(*grid, "--max-steps", 8, "--output", tmp_path / "local", "--workers", "2")
    assert local.returncode == 0, local.stderr + local.stdout
    table = _table(tmp_path / "local")
    assert [(row["scene"], row["field"], row["seeds"]) for row in table["rows"]] == [
        ("scene_a", "hash", 1), ("scene_a", "rbf", 1), ("scene_b", "hash", 1), ("scene_b", "rbf", 1)]
    for row in table["rows"]:
        assert row["step"] == 8 and 5 < row["psnr"] < 60 and 0 < row["ssim"] <= 1 and row["size_mb"] > 0
        assert row["train_seconds"] > 0
    markdown = (tmp_path / "local" / "results.md").read_text()
    assert "| scene_b | rbf | 1 |" in markdown and f"{table['rows'][0]['psnr']:.2f}" in markdown

    on_ray = benchmark(*grid, "--max-steps", 8, "--output", tmp_path / "ray", "--ray-address", ray_head)
    assert on_ray.returncode == 0, on_ray.stderr + on_ray.stdout
    assert _without_times(_table(tmp_path / "ray")) == _without_times(table)

    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "local" / "cells").rglob("latest.safetensors")}
    again = benchmark(*grid, "--max-steps", 8, "--output", tmp_path / "local", "--seeds", "0")
    assert again.returncode == 0 and "4 already done, running 0" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    other = benchmark(*grid, "--max-steps", 9, "--output", tmp_path / "local")
    assert other.returncode == 2 and "other settings (max_steps differ)" in other.stderr
