"""Train and evaluate a grid of radiance-field runs (scenes x field types x seeds) and tabulate PSNR, SSIM, LPIPS,
training time and model size, on local worker processes or a Ray cluster.

    python apps/benchmark.py --scenes lego --fields hash rbf --seeds 0 1 --output outputs/grid --max-time 600
    python apps/benchmark.py --scenes lego --fields hash rbf --output outputs/grid --ray-address 10.0.0.5:6379

Each cell is one run of apps/train_nerf.py (OUT/cells/<scene>/<field>/seed<K>, its log in OUT/logs); the tables
(OUT/results.md, OUT/results.json) are rewritten as cells finish. A rerun skips finished cells and continues
interrupted ones.
"""
from dataclasses import dataclass, field, fields as dataclass_fields
from pathlib import Path
from typing import Literal, Optional

from fields.benchmark import CellSettings, GridSettings, check_grid, run_grid
from fields.benchmark.table import markdown_table
from fields.run import Interrupted, RunFolder, run_app, user_errors
from fields.train.config import TrainNerfConfig  # the options each cell's train_nerf.py run accepts


@dataclass
class BenchmarkConfig:
    output: Path
    """Folder of the grid's runs and tables (resumable)."""
    scenes: tuple[str, ...] = ("lego",)
    """Scene names (lego means nerf_synthetic/lego) or scene folders."""
    fields: tuple[str, ...] = ("hash",)
    """Field types (any of fields.models.field_types())."""
    seeds: tuple[int, ...] = (0,)
    max_steps: Optional[int] = None
    """Step budget of every run (default: train_nerf.py's)."""
    max_time: Optional[float] = None
    """Training-time budget of every run in seconds (default: train_nerf.py's)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data_root: Optional[Path] = None
    train_options: dict[str, str] = field(default_factory=dict)
    """More train_nerf.py options for every run, as name value pairs: --train-options target_samples 8192
    field_options "log2_hashmap_size 17"."""
    workers: int = 1
    """Runs side by side on this machine (each gets cores / workers torch threads unless OMP_NUM_THREADS is set; on
    Ray, one thread per run unless it is set)."""
    ray_address: Optional[str] = None
    """Run the cells as tasks on the Ray cluster at this address (HOST:PORT, ray://HOST:PORT or auto). Its nodes need
    this package and the scenes at the same paths; a run folder is written on the node that trained it, the tables
    here. With --device cuda each cell reserves one GPU."""


def main(config: BenchmarkConfig) -> int:
    cell = CellSettings(output=str(config.output.absolute()), max_steps=config.max_steps, max_time=config.max_time,
                        device=config.device, data_root=str(config.data_root) if config.data_root else None,
                        train_options=tuple(config.train_options.items()))
    grid = GridSettings(tuple(config.scenes), tuple(config.fields), tuple(config.seeds), cell, config.workers,
                        config.ray_address)
    with user_errors(ValueError, RuntimeError):  # RuntimeError: an unreachable Ray cluster
        RunFolder(config.output).check_writable()
        check_grid(grid, [option.name for option in dataclass_fields(TrainNerfConfig)])
        try:
            table = run_grid(grid)
        except KeyboardInterrupt as stop:
            stop = stop if isinstance(stop, Interrupted) else Interrupted()
            stop.note = f"finished cells are kept in {config.output}; rerun the same command to continue"
            raise stop
    print(markdown_table(table))
    print(f"tables in {config.output / 'results.md'} and {config.output / 'results.json'}")
    return 1 if table["failed"] else 0


if __name__ == "__main__":
    run_app(main, BenchmarkConfig, __doc__)
