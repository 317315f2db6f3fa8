"""Which stages of a scene folder are finished, so that a rerun reuses them (``process_state.json``).

Each stage is recorded with the options it runs with when it starts (``result`` null) and with its result when it
finishes. A rerun reuses finished stages; a stage that was interrupted continues with what it left (the COLMAP
database keeps finished images and pairs) when its options are unchanged; a stage whose options changed is done
again from scratch, and so are all stages after it. The folder also records its input, so one scene folder never
mixes two captures.
"""
from __future__ import annotations

import json
from pathlib import Path

from fields.capture.errors import CaptureError
from fields.run.folder import write_json

STATE_FILE = "process_state.json"
STAGES = ("import", "features", "matching", "mapping")


class SceneState:
    def __init__(self, scene_dir: Path, source: dict):
        self.scene_dir = scene_dir
        self.path = scene_dir / STATE_FILE
        self.content = {"source": source, "stages": {}}
        if self.path.is_file():
            try:
                recorded = json.loads(self.path.read_text())
            except (OSError, ValueError) as error:
                raise CaptureError(f"{self.path} is unreadable ({error}); delete it (or the folder) to start "
                                   "over") from None
            if recorded.get("source") != source:
                raise CaptureError(
                    f"{scene_dir} holds another capture (made from {recorded.get('source', {}).get('path')}); "
                    "choose another --output, or delete that folder to reprocess into it")
            self.content = recorded
        elif scene_dir.is_dir() and any(scene_dir.iterdir()):
            what = "another capture (a transforms.json)" if (scene_dir / "transforms.json").exists() else "files"
            raise CaptureError(f"{scene_dir} already holds {what} not written by process_data; choose a new or "
                               "empty --output folder")

    def record(self, stage: str) -> dict | None:
        return self.content["stages"].get(stage)

    def is_done(self, stage: str, options: dict) -> bool:
        done = self.record(stage)
        return done is not None and done.get("options") == options and done.get("result") is not None

    def start(self, stage: str, options: dict) -> None:
        self.content["stages"][stage] = {"options": options, "result": None}
        self.save()

    def finish(self, stage: str, options: dict, result: dict) -> None:
        self.content["stages"][stage] = {"options": options, "result": result}
        self.save()

    def invalidate(self, stage: str) -> None:
        """Forget ``stage`` and every stage after it."""
        for later in STAGES[STAGES.index(stage):]:
            self.content["stages"].pop(later, None)
        self.save()

    def save(self) -> None:
        self.scene_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.content)
