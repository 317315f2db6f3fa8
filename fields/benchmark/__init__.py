"""Benchmark grids: train and evaluate every scene x field type x seed as its own training run, then tabulate."""
from fields.benchmark.cells import Cell, CellSettings, read_run_metrics, run_cell
from fields.benchmark.grid import GridSettings, check_grid, run_grid
from fields.benchmark.table import grid_table

__all__ = ["Cell", "CellSettings", "GridSettings", "check_grid", "grid_table", "read_run_metrics", "run_cell",
           "run_grid"]
