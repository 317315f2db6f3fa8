"""Checks of a run's options and of its run folder, made before any data is loaded or any step is taken: a bad
flag fails at once with a message that names it (not with a traceback minutes into training), and a folder that
already holds a trained run is never written over."""
import os
from pathlib import Path
from typing import Iterable, Optional


def flag(name: str, group: str = "") -> str:
    """The command-line flag of an option; ``group``: the prefix of a nested settings group, e.g. "fit."."""
    return "--" + group + name.replace("_", "-")


def check_positive(config, names: Iterable[str], group: str = "") -> None:
    """Each named option must be > 0 where it is set (None means "the default")."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise ValueError(f"{flag(name, group)} must be positive, got {value}")


def check_non_negative(config, names: Iterable[str], group: str = "") -> None:
    """Each named option must be >= 0 (0 switches the thing off)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not value >= 0:
            raise ValueError(f"{flag(name, group)} must be 0 or more, got {value}")


def check_output_folder(output: Path) -> None:
    """``output`` is a folder or can become one, where this user may write."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder for the outputs")
    existing = output.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--output {output}: cannot write in {existing} (read-only, or no permission); choose "
                         f"another folder")


def check_run_folder(output: Optional[Path], resume: bool = False, can_resume: bool = False) -> None:
    """``output`` (None: a fresh timestamped folder) must be a folder, and must not hold a trained run unless that
    run is being resumed."""
    if output is None:
        return
    output = Path(output)
    check_output_folder(output)
    if not resume and (output / "checkpoints" / "latest.safetensors").exists():
        hint = ", or pass --resume to continue it" if can_resume else ""
        raise ValueError(f"--output {output} already holds a trained run ({output}/checkpoints/latest.safetensors); "
                         f"choose another folder{hint}")
