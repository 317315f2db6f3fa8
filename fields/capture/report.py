"""``process_report.json``: what went in, what was registered or rejected and why, SfM quality, time per stage."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fields.capture.scene_writer import write_json

REPORT_FILE = "process_report.json"


class Interrupted(Exception):
    """Ctrl+C during ``stage``; what finished before it is kept."""

    def __init__(self, stage: str):
        super().__init__(stage)
        self.stage = stage


@dataclass
class Report:
    source: dict
    images_in: int = 0
    imported: int = 0
    registered: int = 0
    rejected: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    sfm: dict = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        """Times a stage; Ctrl+C inside it becomes :class:`Interrupted` naming the stage."""
        start = time.perf_counter()
        try:
            yield
        except KeyboardInterrupt:
            raise Interrupted(name) from None
        self.seconds[name] = round(time.perf_counter() - start, 3)

    def reuse(self, name: str, seconds: float) -> None:
        """A stage finished by an earlier run: its time then is reported."""
        self.seconds[name] = seconds
        self.reused.append(name)

    def reject(self, name: str, reason: str) -> None:
        self.rejected.append({"name": name, "reason": reason})

    def as_dict(self) -> dict:
        return {
            "input": self.source,
            "images_in": self.images_in,
            "imported": self.imported,
            "registered": self.registered,
            "registration_rate": round(self.registered / self.imported, 4) if self.imported else 0.0,
            "rejected": self.rejected,
            **self.sfm,
            "seconds": self.seconds,
            "reused_stages": self.reused,
        }

    def write(self, scene_dir: Path) -> None:
        write_json(scene_dir / REPORT_FILE, self.as_dict())
