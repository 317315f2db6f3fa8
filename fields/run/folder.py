"""The run folder: where one training or conversion run keeps everything it writes, and the one place that knows
its layout.

    <run>/config.json                  options of the run; a resumed run keeps the earlier ones under "history"
    <run>/metrics.jsonl                one line per logged step and per periodic validation
    <run>/checkpoints/latest.safetensors (+ .json)   field, occupancy grid, optimiser (fields.run.checkpoint)
    <run>/eval_val.json                final evaluation of a radiance field (metrics.json for image and SDF fields)
    <run>/eval_<split>/                renders and metrics.json of apps/eval.py
    <run>/export/                      meshes and point clouds of the export apps
    <run>/fresh.json                   FreSh's selection, when --init fresh chose the field's embedding
"""
import json
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

CHECKPOINT_NAME = "latest.safetensors"


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------ finding runs
    @classmethod
    def new(cls, *parts: str, suffix: str = "") -> "RunFolder":
        """A fresh timestamped folder: outputs/<parts...>/<YYYYmmdd-HHMMSS><suffix>."""
        return cls(Path("outputs", *parts, time.strftime("%Y%m%d-%H%M%S") + suffix))

    @classmethod
    def latest(cls, *parts: str) -> Optional["RunFolder"]:
        """The newest run under outputs/<parts...>/ that holds a checkpoint, or None."""
        runs = sorted(p for p in Path("outputs", *parts).glob("*") if (p / "checkpoints" / CHECKPOINT_NAME).exists())
        return cls(runs[-1]) if runs else None

    @classmethod
    def of(cls, path: str | Path) -> "RunFolder":
        """The run a checkpoint file (<run>/checkpoints/<name>.safetensors) or a run folder belongs to; a loose
        checkpoint file's own folder stands for its run."""
        path = Path(path)
        if path.is_dir():
            return cls(path)
        return cls(path.parent.parent if path.parent.name == "checkpoints" else path.parent)

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / CHECKPOINT_NAME

    def file(self, name: str) -> Path:
        return self.path / name

    def holds_trained_run(self) -> bool:
        return self.checkpoint.exists()

    # ------------------------------------------------------------ checks
    def check_writable(self) -> None:
        """The folder exists or can be made, and this user may write there."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--output {self.path} is a file; give a folder for the outputs")
        existing = self.path.absolute()
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"--output {self.path}: cannot write in {existing} (read-only, or no permission); "
                             f"choose another folder")

    def check_new_run(self, resume: bool = False, can_resume: bool = False) -> None:
        """Writable, and holding no trained run unless that run is being resumed."""
        self.check_writable()
        if not resume and self.holds_trained_run():
            hint = ", or pass --resume to continue it" if can_resume else ""
            raise ValueError(f"--output {self.path} already holds a trained run ({self.checkpoint}); choose another "
                             f"folder{hint}")

    # ------------------------------------------------------------ writing
    def write_config(self, config: dict, resume: bool = False) -> None:
        """config.json; a resumed run keeps the configs it ran with before, oldest first, under "history"."""
        history = []
        previous = self.read_json("config.json") if resume else None
        if previous is not None:
            history = previous.pop("history", []) + [previous]
        self.write_json("config.json", config | ({"history": history} if history else {}))

    def log(self, record: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(finite_json(record)) + "\n")

    def write_json(self, name: str, content: dict) -> Path:
        path = self.path / name
        write_json(path, content)
        return path

    def read_json(self, name: str) -> Optional[dict]:
        """The JSON file ``name`` of the run, or None when it is missing or unreadable."""
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, json.JSONDecodeError):
            return None


def checkpoint_path(path: str | Path) -> Path:
    """``path`` as a checkpoint file: itself (with or without its .safetensors suffix), or for a run folder the
    checkpoint the trainers keep in it."""
    path = Path(path)
    if path.is_dir():
        run = RunFolder(path)
        if not run.holds_trained_run():
            raise FileNotFoundError(f"{path} is a folder without checkpoints/{CHECKPOINT_NAME}; pass a checkpoint "
                                    f"(.safetensors) or the run folder that apps/train_*.py or apps/convert.py wrote")
        return run.checkpoint
    if path.suffix == "":
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; pass the .safetensors file (or the run folder) that "
                                "apps/train_*.py wrote, e.g. outputs/lego/hash/<run>/checkpoints/latest.safetensors")
    return path


def finite_json(value):
    """``value`` with every non-finite float (an infinite Chamfer distance, say) as None: strict JSON has no NaN or
    Infinity, and other tools refuse files that hold them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a temporary path (same folder and extension) to write; renames it to ``path`` on success and deletes it
    on any error, so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: Path, content: dict) -> None:
    """Atomically (:func:`atomic_output`), creating missing folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(finite_json(content), indent=1))
