"""Fit one tri-plane field per mesh of a class-labelled folder (DIR/<class>/<shape>.obj|ply|off), in parallel.

    python apps/fit_triplanes.py --meshes data/shapes --output outputs/triplanes --workers 2
    python apps/fit_triplanes.py --meshes data/shapes --output outputs/triplanes --ray-address auto

Each finished shape is written at once (OUT/<class>/<shape>.safetensors); a rerun skips them. Meshes that cannot be
read or whose fit diverges are listed in OUT/summary.json and skipped.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fields.run import RunFolder, run_app, user_errors
from fields.triplanes.collection import fit_collection
from fields.triplanes.fitting import FitSettings


@dataclass
class FitTriplanesConfig:
    meshes: Path
    """Class-labelled mesh folder: DIR/<class>/<shape>.obj|ply|off."""
    output: Path
    """Folder of the fitted tri-planes (resumable)."""
    workers: int = 1
    """Local worker processes, one thread each (also the CPUs of a local Ray started by --ray)."""
    ray: bool = False
    """Run the fits as tasks on a local Ray instance."""
    ray_address: Optional[str] = None
    """Join a running Ray cluster ("auto", "ray://host:10001") and run the fits there."""
    retry_failed: bool = False
    """Fit again the shapes that failed in an earlier run."""
    progress: bool = True
    fit: FitSettings = field(default_factory=FitSettings)


def main(config: FitTriplanesConfig) -> int:
    with user_errors(FileNotFoundError, ValueError, RuntimeError):  # RuntimeError: a Ray cluster that fails
        RunFolder(config.output).check_writable()
        config.fit.check()
        if config.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {config.workers}")
        summary = fit_collection(config.meshes, config.output, config.fit, config.workers, config.ray,
                                 config.ray_address, config.retry_failed, config.progress)
    run = summary["this_run"]
    print(json.dumps({k: summary[k] for k in ("fitted", "failed", "mean_iou", "mean_chamfer")}))
    if run["shapes_per_minute"]:
        print(f"{run['fitted_or_failed']} shapes in {run['seconds']:.0f} s ({run['shapes_per_minute']:.1f} per "
              f"minute); summary in {config.output / 'summary.json'}")
    return 0


if __name__ == "__main__":
    run_app(main, FitTriplanesConfig, __doc__)
