"""The `fields` command: every app is a sub-command, every sub-command's --help works, bad commands say what to do."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fields.cli import COMMANDS, app_path, apps_dir, main

ROOT = Path(__file__).resolve().parents[1]


def test_every_app_is_a_sub_command():
    scripts = {path.stem.replace("_", "-") for path in apps_dir().glob("*.py")}
    assert scripts <= set(COMMANDS), f"apps without a `fields` sub-command: {sorted(scripts - set(COMMANDS))}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_sub_command_has_help(command, capsys):
    assert app_path(command).is_file(), f"fields {command}: {app_path(command)} is missing"
    assert main([command, "--help"]) == 0
    assert f"usage: fields {command}" in capsys.readouterr().out


def test_usage_and_unknown_commands(capsys):
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(command in listing for command in COMMANDS)
    assert main(["trian-nerf"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown command 'trian-nerf'; commands: train-nerf")


def test_scripts_run_as_their_own_main_module(tmp_path, monkeypatch):
    """Postponed annotations resolve in the script's namespace, as under `python script.py`."""
    (tmp_path / "probe.py").write_text(
        "from __future__ import annotations\nimport sys, typing\nfrom dataclasses import dataclass\n"
        "from pathlib import Path\n@dataclass\nclass Config:\n    path: Path\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(7 if typing.get_type_hints(Config)['path'] is Path and sys.argv == ['fields probe', 'x'] "
        "else 1)\n")
    monkeypatch.setattr("fields.cli.apps_dir", lambda: tmp_path)
    monkeypatch.setitem(COMMANDS, "probe", "a test script")
    launcher = sys.modules["__main__"]
    assert main(["probe", "x"]) == 7
    assert sys.modules["__main__"] is launcher


def test_python_m_fields_passes_options_and_exit_status(tmp_path):
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "fields", "train-nerf", "--scene", "no_such_scene", "--data-root",
                             str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "error: " in result.stderr and "no_such_scene" in result.stderr
