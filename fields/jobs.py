"""Where independent jobs run: in this process, in a pool of local worker processes, or as tasks on a Ray cluster.

Every backend applies the same ``function`` to each job and yields ``(job, outcome)`` as jobs finish; the caller
writes the outcomes, so a cluster needs no shared file system. ``function`` and the jobs must be picklable (a
module-level function, or a ``functools.partial`` of one), and ``function`` reports its own failures in its outcome:
one bad job must not stop the others.
"""
import json
import multiprocessing
import socket
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, TypeVar

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")

RAY_HINT = "start one with `ray start --head` and pass the address it prints, or leave out --ray-address"


def run_jobs(function: Callable[[Job], Outcome], jobs: Iterable[Job], workers: int = 1, ray: bool = False,
             ray_address: Optional[str] = None, gpus_per_job: float = 0) -> Iterator[tuple[Job, Outcome]]:
    """Runs ``function(job)`` for every job: on Ray when ``ray`` or ``ray_address`` is given, else locally."""
    if ray or ray_address:
        return run_ray(function, jobs, ray_address, workers, gpus_per_job)
    return run_local(function, jobs, workers)


def run_local(function: Callable[[Job], Outcome], jobs: Iterable[Job],
              workers: int) -> Iterator[tuple[Job, Outcome]]:
    jobs = list(jobs)
    if workers <= 1:
        for job in jobs:
            yield job, function(job)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(function, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_ray(function: Callable[[Job], Outcome], jobs: Iterable[Job], address: Optional[str], workers: int,
            gpus_per_job: float = 0) -> Iterator[tuple[Job, Outcome]]:
    """Runs the jobs as Ray tasks of one CPU (and ``gpus_per_job`` GPUs) each. Joins the cluster at ``address``
    ("auto", "host:port", "ray://host:port"), or starts a local one with ``workers`` CPUs when address is None; an already initialised
    Ray is used as it is."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        connect_ray(address, workers)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=gpus_per_job)(_apply)
        pending = {remote.remote(function, job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()


def _apply(function, job):
    return function(job)


def check_ray_address(address: Optional[str], timeout: float = 5.0) -> None:
    """Raises RuntimeError, saying what to do, when ray is not installed or nothing listens at ``address``.

    Apps call it before any work, so that a mistyped address fails at once rather than after the first results
    (or after Ray's own connection retries, which take minutes). For "auto", Ray itself looks for a cluster
    started on this machine (it fails fast when there is none).
    """
    ray = _import_ray()
    if address is None or ray.is_initialized():
        return
    if address == "auto":
        _init_ray(ray, address, workers=1)
        ray.shutdown()
        return
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise RuntimeError(f"--ray-address {address!r} is not an address: use HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise RuntimeError(f"cannot reach a Ray cluster at {address} ({error}); {RAY_HINT}") from error


def connect_ray(address: Optional[str], workers: int) -> None:
    """ray.init for the cluster at ``address`` (a new local one with ``workers`` CPUs when None), with a clear
    error when it cannot be joined."""
    ray = _import_ray()
    if address != "auto":
        check_ray_address(address)
    _init_ray(ray, address, workers)


def _init_ray(ray, address: Optional[str], workers: int) -> None:
    try:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RuntimeError(f"cannot join a Ray cluster at {address} ({error}); {RAY_HINT}") from error


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise RuntimeError("running on Ray needs the optional dependency ray: pip install 'fields-toolkit[ray]'") \
            from error
    return ray


def check_settings(output: Path, settings: dict, file_name: str) -> None:
    """A resumable batch (a benchmark grid, a tri-plane collection) runs with one set of settings: its first run
    writes them to ``output/file_name``, and a rerun with others fails, as it would mix incomparable results."""
    path = output / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))
        return
    stored = json.loads(path.read_text())
    changed = sorted(k for k in stored.keys() | settings.keys() if stored.get(k) != settings.get(k))
    if changed:
        raise ValueError(f"{output} holds a run with other settings ({', '.join(changed)} differ); use a new "
                         f"--output or the same settings to resume")
