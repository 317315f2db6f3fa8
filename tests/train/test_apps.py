import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_app(*args, cwd=ROOT):
    env = os.environ | {"PYTHONPATH": str(ROOT)}  # the checkout under test, installed or not
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_app_has_help():
    for app in sorted((ROOT / "apps").glob("*.py")):
        result = run_app(str(app), "--help")
        assert result.returncode == 0, f"{app.name}: {result.stderr}"
        assert "usage" in result.stdout.lower(), app.name


def test_missing_scene_is_a_clear_error(tmp_path):
    result = run_app(str(ROOT / "apps" / "train_nerf.py"), "--scene", "no_such_scene", "--data-root",
                     str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "no_such_scene" in result.stderr and str(tmp_path) in result.stderr


def test_train_then_eval_from_the_command_line(procedural_scene, tmp_path):
    out = tmp_path / "run"
    train = run_app(str(ROOT / "apps" / "train_nerf.py"), "--scene", str(procedural_scene), "--device", "cpu",
                    "--max-steps", "20", "--output", str(out), "--no-progress", "--eval-every", "0",
                    "--target-samples", "8192", "--grid-resolution", "32")
    assert train.returncode == 0, train.stderr
    checkpoint = out / "checkpoints" / "latest.safetensors"
    assert checkpoint.exists() and checkpoint.with_suffix(".json").exists()
    evaluation = run_app(str(ROOT / "apps" / "eval.py"), "--checkpoint", str(checkpoint), "--split", "val",
                         "--output", str(tmp_path / "eval"), "--device", "cpu")
    assert evaluation.returncode == 0, evaluation.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "val" and 0 < metrics["psnr"] < 100 and 0 < metrics["ssim"] <= 1
    assert metrics["scene"] == str(procedural_scene) and str(procedural_scene) in evaluation.stdout
    assert len(list((tmp_path / "eval").glob("val_*.png"))) == metrics["views"]
    by_folder = run_app(str(ROOT / "apps" / "eval.py"), "--checkpoint", str(out), "--split", "val", "--every", "4",
                        "--device", "cpu")  # the run folder stands for its latest checkpoint
    assert by_folder.returncode == 0, by_folder.stderr
    assert json.loads((out / "eval_val" / "metrics.json").read_text())["checkpoint"] == str(checkpoint)
    bad = run_app(str(ROOT / "apps" / "eval.py"), "--checkpoint", str(out), "--every", "0", "--output",
                  str(tmp_path / "eval_bad"), "--device", "cpu")
    assert bad.returncode == 2 and "--every must be positive" in bad.stderr
    assert not (tmp_path / "eval_bad").exists()
