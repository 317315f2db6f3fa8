"""Option checks made before any data is loaded or any step is taken: a bad flag fails at once with a message that
names it (not with a traceback minutes into training). And config dataclasses as JSON."""
from dataclasses import asdict
from pathlib import Path
from typing import Iterable


class JsonConfig:
    """Config dataclasses as JSON (paths as strings), for config.json and checkpoint metadata."""

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


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
