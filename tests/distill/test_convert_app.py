import os
import subprocess
import sys
from pathlib import Path

from fields.models import field_types

from tests.distill.conftest import write_teacher

ROOT = Path(__file__).resolve().parents[2]


def run_convert(*args, cwd=ROOT):
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "apps" / "convert.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help_names_the_options():
    result = run_convert("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--checkpoint", "--to", "--active-learning", "--real-views", "--max-time"):
        assert option in result.stdout


def test_bad_inputs_are_clear_errors_and_leave_nothing(procedural_scene, tmp_path):
    teacher = write_teacher(tmp_path / "teacher.safetensors", procedural_scene)
    out = tmp_path / "student"
    unknown = run_convert("--checkpoint", str(teacher), "--to", "plenoxels", "--output", str(out))
    assert unknown.returncode == 2 and "valid types: " + ", ".join(field_types()) in unknown.stderr
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\0" * 64)
    broken = run_convert("--checkpoint", str(corrupt), "--to", "mlp", "--output", str(out))
    assert broken.returncode == 2 and "corrupt" in broken.stderr and str(corrupt) in broken.stderr
    assert not out.exists()


def test_convert_from_the_command_line(procedural_scene, tmp_path):
    teacher = write_teacher(tmp_path / "teacher.safetensors", procedural_scene)
    out = tmp_path / "student"
    result = run_convert("--checkpoint", str(teacher), "--to", "hash", "--output", str(out), "--max-steps", "2",
                         "--device", "cpu", "--no-progress", "--eval-every", "0", "--target-samples", "2048",
                         "--active-learning", "--field-options", "n_levels", "4", "log2_hashmap_size", "12")
    assert result.returncode == 0, result.stderr
    assert "its own type: allowed" in result.stdout
    assert (out / "checkpoints" / "latest.safetensors").exists() and (out / "config.json").exists()


def test_convert_refuses_to_write_into_the_teachers_run(hash_teacher):
    run = hash_teacher.parent.parent
    before = hash_teacher.read_bytes()
    result = run_convert("--checkpoint", str(hash_teacher), "--to", "mlp", "--output", str(run), "--max-steps", "2")
    assert result.returncode == 2 and "already holds a trained run" in result.stderr
    assert hash_teacher.read_bytes() == before
