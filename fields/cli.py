"""The ``fields`` command: one sub-command per app (``fields train-nerf --scene lego``, ``fields view ...``).

Each sub-command runs its script from apps/ as ``__main__`` with the remaining arguments, so ``fields X ARGS`` and
``python apps/X.py ARGS`` are the same program (same options, ``--help`` and exit status). The scripts are found in
the installed package (``fields/apps``, where setup.py installs them) or, in a checkout and an editable install,
in the apps/ folder beside the package.
"""
import sys
import types
from pathlib import Path
from typing import Optional

from fields.run.app import report_error

# sub-command -> one-line summary; the script is apps/<sub-command with "_" for "-">.py
COMMANDS = {
    "train-nerf": "train a radiance field on a posed-image scene",
    "train-image": "fit a 2-D field to an image",
    "train-sdf": "fit a signed distance field to a mesh",
    "eval": "render a split from a radiance-field checkpoint and measure PSNR/SSIM/LPIPS",
    "view": "live browser viewer of a trained field",
    "convert": "convert a radiance field into another field type (PVD)",
    "export-mesh": "export a field's surface as a mesh",
    "export-pointcloud": "export a coloured point cloud from a radiance field",
    "render": "render a field along a camera path to a video",
    "process-data": "photos or a video to a posed scene folder (structure from motion with pycolmap)",
    "benchmark": "train and evaluate a grid of scenes x field types x seeds, and tabulate",
    "make-shapes": "write a procedural class-labelled shape collection",
    "fit-triplanes": "fit one tri-plane per mesh of a collection",
    "classify-triplanes": "train and evaluate a classifier of fitted tri-planes",
}


def apps_dir() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "apps"
    return installed if installed.is_dir() else package.parent / "apps"


def app_path(command: str) -> Path:
    """The script of sub-command ``command`` (e.g. "train-nerf" -> apps/train_nerf.py)."""
    return apps_dir() / (command.replace("-", "_") + ".py")


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
    return ("usage: fields COMMAND [OPTIONS]   (fields COMMAND --help lists a command's options)\n\ncommands:\n"
            + "\n".join(lines))


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, arguments = argv[0], argv[1:]
    if command not in COMMANDS:
        return report_error(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
    script = app_path(command)
    if not script.is_file():
        return report_error(f"{script} is missing; reinstall fields-toolkit (pip install .) or run from a checkout")
    # run as `python apps/X.py` would (the script is the __main__ module while it runs, so that type hints
    # resolve), but with "fields X" as the program name its --help shows: runpy.run_path would show the path
    code = compile(script.read_text(), str(script), "exec")
    script_module = types.ModuleType("__main__")
    script_module.__file__ = str(script)
    launcher, launcher_argv = sys.modules["__main__"], sys.argv
    sys.argv = [f"fields {command}", *arguments]
    sys.modules["__main__"] = script_module
    try:
        exec(code, script_module.__dict__)
    except SystemExit as exit_:
        return _exit_status(exit_.code)
    finally:
        sys.modules["__main__"], sys.argv = launcher, launcher_argv
    return 0


def _exit_status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits with 1
    return 1
