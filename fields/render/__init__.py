"""Rendering: the occupancy grid and its ray sampler."""
from fields.render.occupancy_grid import OccupancyGrid
from fields.ops.ray_marching import RaySamples

__all__ = ["OccupancyGrid", "RaySamples"]
