"""Running a benchmark grid: check the grid before any work, skip finished cells, run the rest on a job backend,
record each result as it arrives and rewrite the tables after each one (so an interrupted grid keeps them)."""
import json
import os
from dataclasses import asdict, dataclass, replace
from functools import partial
from itertools import product
from pathlib import Path
from typing import Iterable, Optional

from fields.benchmark.cells import Cell, CellSettings, run_cell
from fields.benchmark.table import grid_table, markdown_table
from fields.datasets import SceneNotFoundError, data_roots, find_scene
from fields.datasets.find import is_scene_dir
from fields.jobs import check_ray_address, check_settings, run_jobs
from fields.models import field_types
from fields.run.folder import atomic_output

SETTINGS_FILE = "grid.json"
# train_nerf.py options the grid sets itself for every cell
GRID_OPTIONS = {"scene", "field", "seed", "output", "resume", "device", "max_steps", "max_time", "data_root",
                "progress", "viewer"}


@dataclass(frozen=True)
class GridSettings:
    scenes: tuple[str, ...]
    fields: tuple[str, ...]
    seeds: tuple[int, ...]
    cell: CellSettings
    workers: int = 1
    ray_address: Optional[str] = None

    def cells(self) -> list[Cell]:
        return [Cell(scene, field, seed) for scene, field, seed in product(self.scenes, self.fields, self.seeds)]


def check_grid(settings: GridSettings, train_options: Iterable[str]) -> None:
    """Raises ValueError (unknown scene or field type, listing the valid ones; empty grid; bad budget; a
    --train-options name not among ``train_options``, the options of train_nerf.py) or RuntimeError (Ray cluster
    unreachable) before anything is written."""
    for name, values in (("--scenes", settings.scenes), ("--fields", settings.fields), ("--seeds", settings.seeds)):
        if not values:
            raise ValueError(f"{name} is empty; give at least one")
    known = field_types()
    unknown = [field for field in settings.fields if field not in known]
    if unknown:
        raise ValueError(f"unknown field type {', '.join(unknown)}; valid: {', '.join(known)}")
    data_root = settings.cell.data_root
    if data_root is not None and not Path(data_root).is_dir():
        raise ValueError(f"--data-root {data_root} is not a directory; pass the folder that holds the scenes")
    for scene in settings.scenes:
        try:
            find_scene(scene, data_root)
        except SceneNotFoundError:
            found = available_scenes(data_root)
            listed = ", ".join(found) if found else "none"
            raise ValueError(f"unknown scene {scene!r}; scenes found in the data roots: {listed} (or give a scene "
                             f"folder's path; --data-root adds a root)") from None
    if len({Path(scene).name for scene in settings.scenes}) < len(settings.scenes):
        raise ValueError(f"--scenes {' '.join(settings.scenes)}: two scenes share a folder name")
    allowed = sorted(set(train_options) - GRID_OPTIONS)
    bad = [name for name, _ in settings.cell.train_options if name.replace("-", "_") not in allowed]
    if bad:
        raise ValueError(f"--train-options {', '.join(bad)}: not a train_nerf.py option the grid passes on; "
                         f"valid: {', '.join(allowed)}")
    if ("eval_every", "0") in settings.cell.train_options:
        raise ValueError("--train-options eval_every 0 turns off the final evaluation the table is made of")
    for name in ("max_steps", "max_time"):
        value = getattr(settings.cell, name)
        if value is not None and not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if settings.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {settings.workers}")
    if settings.ray_address is not None:
        check_ray_address(settings.ray_address)


def available_scenes(data_root: Optional[str]) -> list[str]:
    """Scene names find_scene resolves: the scene folders directly under each data root or its nerf_synthetic/."""
    names = []
    for root in data_roots(data_root):
        for folder in (root, root / "nerf_synthetic"):
            if folder.is_dir():
                names += [path.name for path in sorted(folder.iterdir()) if is_scene_dir(path)]
    return sorted(set(names))


def run_grid(settings: GridSettings, progress=partial(print, flush=True)) -> dict:
    """Runs the cells of the grid not yet finished in ``settings.cell.output``; returns the table (also written as
    results.json and results.md there)."""
    output = Path(settings.cell.output)
    check_settings(output, _settings(settings.cell), SETTINGS_FILE)
    if settings.cell.threads is None:
        settings = replace(settings, cell=replace(settings.cell, threads=cell_threads(settings)))
    cells = settings.cells()
    results = {cell.key: json.loads(path.read_text()) for cell in cells if (path := result_path(output, cell)).exists()}
    todo = [cell for cell in cells if cell.key not in results]
    backend = f"Ray ({settings.ray_address})" if settings.ray_address else f"{settings.workers} local worker(s)"
    progress(f"{len(cells)} cells; {len(results)} already done, running {len(todo)} on {backend}")
    failures: dict[str, str] = {}
    table = _write_tables(output, results, failures, cells)
    gpus_per_cell = 1 if settings.cell.device == "cuda" else 0  # Ray then runs one cell per GPU at a time
    for cell, outcome in run_jobs(partial(run_cell, settings=settings.cell), todo, settings.workers,
                                  ray_address=settings.ray_address, gpus_per_job=gpus_per_cell):
        if "error" in outcome:
            failures[cell.key] = outcome["error"]
            progress(f"{cell.key}: failed: {outcome['error']}")
        else:
            results[cell.key] = outcome["metrics"]
            _write_text(result_path(output, cell), json.dumps(outcome["metrics"], indent=1))
            progress(f"{cell.key}: PSNR {outcome['metrics']['psnr']:.2f} dB")
        table = _write_tables(output, results, failures, cells)
    return table


def cell_threads(settings: GridSettings) -> int:
    """Torch threads of each run: $OMP_NUM_THREADS when set (passed on to Ray nodes too); else, locally, the cores
    shared among the runs side by side, and on Ray the one CPU each task reserves."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"])
    if settings.ray_address is not None:
        return 1
    return max(1, (os.cpu_count() or 1) // settings.workers)


def result_path(output: Path, cell: Cell) -> Path:
    return output / "results" / (cell.key + ".json")


def _settings(cell: CellSettings) -> dict:
    """The training setup of a grid: cells trained with another budget would not be comparable."""
    setup = {k: v for k, v in asdict(cell).items() if k not in ("output", "threads", "data_root")}
    return setup | {"train_options": [list(pair) for pair in setup["train_options"]]}


def _write_tables(output: Path, results: dict, failures: dict, cells: list[Cell]) -> dict:
    table = grid_table(results, failures, cells)
    _write_text(output / "results.json", json.dumps(table, indent=1))
    _write_text(output / "results.md", markdown_table(table))
    return table


def _write_text(path: Path, text: str) -> None:
    """Through :func:`fields.run.folder.atomic_output`: an interrupted write leaves the previous file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(text)
