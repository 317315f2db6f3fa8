"""``process_report.json``: what went in, what was registered or rejected and why, SfM quality, time per stage."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fields.run.folder import write_json
from fields.run.interrupts import Interrupted

REPORT_FILE = "process_report.json"


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
        """Times a stage; an interruption inside it (Ctrl+C, SIGTERM) names the stage and what to do."""
        start = time.perf_counter()
        try:
            yield
        except KeyboardInterrupt as stop:
            stop = stop if isinstance(stop, Interrupted) else Interrupted()
            stop.note = f"during {name}; the finished stages are kept: run the same command again to continue"
            raise stop from None
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
