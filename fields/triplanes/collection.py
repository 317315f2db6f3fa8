"""Fitting a whole class-labelled mesh folder: skip finished shapes, run the rest on a backend, write each result
as it arrives, then the summary."""
import json
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from fields.jobs import check_ray_address, check_settings, run_jobs
from fields.triplanes.fitting import FitSettings, fit_shape
from fields.triplanes.store import ShapeJob, collection_summary, find_meshes, is_done, write_failure, write_result

SETTINGS_FILE = "fit_settings.json"


def fit_job(job: ShapeJob, settings: FitSettings) -> dict:
    """The fit of one shape, or {"error": ...} when its mesh cannot be read or the fit fails: one bad shape must
    not stop a collection. ``fit_shape`` pins each fit to one thread, which makes the outcome of a shape the same
    whichever backend ran it."""
    try:
        return fit_shape(job.mesh_path, job.relative_path, settings)
    except Exception as error:  # noqa: BLE001  (reported per shape in the summary)
        return {"error": f"{type(error).__name__}: {error}"}


def fit_collection(meshes: str | Path, output: str | Path, settings: FitSettings = FitSettings(), workers: int = 1,
                   ray: bool = False, ray_address: Optional[str] = None, retry_failed: bool = False,
                   progress: bool = True) -> dict:
    """Fits every shape of ``meshes`` not yet in ``output``; returns the collection summary (also summary.json)."""
    output = Path(output)
    jobs = find_meshes(meshes)
    if ray or ray_address:
        check_ray_address(ray_address)  # a wrong address fails before anything is written
    check_settings(output, asdict(settings), SETTINGS_FILE)
    todo = [job for job in jobs if not is_done(output, job, retry_failed)]
    print(f"{len(jobs)} shapes in {meshes}; {len(jobs) - len(todo)} already done, fitting {len(todo)} "
          f"{'on Ray' if ray or ray_address else f'with {workers} worker(s)'}")
    start = time.perf_counter()
    outcomes = run_jobs(partial(fit_job, settings=settings), todo, workers, ray, ray_address)
    for job, outcome in tqdm(outcomes, total=len(todo), disable=not progress, unit="shape"):
        if "error" in outcome:
            write_failure(output, job, outcome["error"])
            print(f"skipped {job.relative_path}: {outcome['error']}")
        else:
            write_result(output, job, outcome)
    seconds = time.perf_counter() - start
    summary = collection_summary(output) | {
        "this_run": {"fitted_or_failed": len(todo), "seconds": seconds,
                     "shapes_per_minute": 60.0 * len(todo) / seconds if todo and seconds > 0 else None,
                     "workers": workers, "backend": "ray" if ray or ray_address else "local"}}
    (output / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
