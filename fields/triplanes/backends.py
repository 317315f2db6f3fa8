"""Where the per-shape fits run: in this process, in a pool of local worker processes, or on a Ray cluster.

Every backend runs the same ``run_job`` and yields ``(job, outcome)`` as fits finish; the caller writes the results,
so a cluster needs no shared file system. ``fit_shape`` pins each fit to one thread, which makes the outcome of a
shape the same whichever backend ran it.
"""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Iterable, Iterator, Optional

from fields.triplanes.fitting import FitSettings, fit_shape
from fields.triplanes.store import ShapeJob


def run_job(job: ShapeJob, settings: FitSettings) -> dict:
    """The fit of one shape, or {"error": ...} when its mesh cannot be read or the fit fails: one bad shape must
    not stop a collection."""
    try:
        return fit_shape(job.mesh_path, job.relative_path, settings)
    except Exception as error:  # noqa: BLE001  (reported per shape in the summary)
        return {"error": f"{type(error).__name__}: {error}"}


def run_local(jobs: Iterable[ShapeJob], settings: FitSettings, workers: int) -> Iterator[tuple[ShapeJob, dict]]:
    jobs = list(jobs)
    if workers <= 1:
        for job in jobs:
            yield job, run_job(job, settings)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_job, job, settings): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_ray(jobs: Iterable[ShapeJob], settings: FitSettings, address: Optional[str],
            workers: int) -> Iterator[tuple[ShapeJob, dict]]:
    """Runs the jobs as Ray tasks of one CPU each. Joins the cluster at ``address`` ("auto", "ray://host:port"), or
    starts a local one with ``workers`` CPUs when address is None; an already initialised Ray is used as it is."""
    try:
        import ray
    except ImportError as error:
        raise RuntimeError("running on Ray needs the optional dependency ray: pip install 'fields[ray]'") from error
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False)
    try:
        remote = ray.remote(num_cpus=1)(run_job)
        pending = {remote.remote(job, settings): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()
