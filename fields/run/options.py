"""Option checks made before any data is loaded or any step is taken: a bad flag fails at once with a message that
names it (not with a traceback minutes into training). And the config dataclasses' shared parts and JSON form."""
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal, Optional


class JsonConfig:
    """Config dataclasses as JSON (paths as strings), for config.json and checkpoint metadata."""

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass(kw_only=True)
class RunOptions(JsonConfig):
    """Options of every command that trains (the trainers and the converter)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    progress: bool = True
    """Show a progress bar."""


@dataclass(kw_only=True)
class ValidationOptions:
    """Logging, periodic validation, timed checkpoints and the final evaluation of the radiance-field trainer and
    the converter."""

    log_every: int = 50
    val_every: Optional[int] = None
    """Validate every N steps (default: every 2000 steps, or every 120 s under a time budget)."""
    val_views: int = 3
    """Number of val views for the periodic validation PSNR (0: none)."""
    val_pixels: int = 4096
    """Pixels per view the periodic validation renders (a fixed random subset), so it stays cheap at any size."""
    save_interval: float = 180.0
    """Write a checkpoint every this many seconds, the most a hard kill (SIGKILL, power loss) can lose (0: off; the
    final one is written anyway)."""
    eval_every: int = 10
    """Final evaluation renders every K-th view of the val split (0 disables it)."""

    def check_validation(self) -> None:
        check_positive(self, ["log_every", "val_every", "val_pixels"])
        check_non_negative(self, ["val_views", "eval_every", "save_interval"])


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
