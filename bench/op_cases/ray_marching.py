import math

import torch

from bench.op_cases import Case
from fields.ops import pack_bitfield, ray_aabb_intersect, ray_marching, ray_marching_reference

AABB = [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]
RESOLUTION = 128
STEP = math.sqrt(3) * 3 / 1024  # 1024 steps across the box diagonal


def camera_rays(n, device, seed=0):
    """Rays from a sphere of radius 4 around the box towards random points inside it."""
    g = torch.Generator().manual_seed(seed)
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 4.0
    targets = torch.rand(n, 3, generator=g) * 3.0 - 1.5
    return origins.to(device), torch.nn.functional.normalize(targets - origins, dim=-1).to(device)


def half_occupied_grids():
    """Two 128³ grids with about half of the cells occupied: random cells, and a solid ball."""
    g = torch.Generator().manual_seed(0)
    random_cells = torch.rand(RESOLUTION**3, generator=g) < 0.5
    axis = (torch.arange(RESOLUTION) + 0.5) / RESOLUTION * 3.0 - 1.5
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).view(-1, 3)
    radius = (0.5 * 27.0 * 3 / (4 * math.pi)) ** (1 / 3)  # a ball of half the box's volume
    ball = centres.norm(dim=-1) < radius
    return {"random cells": random_cells, "solid ball": ball}


def surface_grid():
    """A trained object's grid: only the cells of a sphere's surface shell (2 cells thick, radius 1) are occupied, so
    most of the space a ray crosses is empty (empty 8³ blocks are skipped at once)."""
    axis = (torch.arange(RESOLUTION) + 0.5) / RESOLUTION * 3.0 - 1.5
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).view(-1, 3)
    return {"sphere surface shell": (centres.norm(dim=-1) - 1.0).abs() < 3.0 / RESOLUTION}


def one_thread(fn):
    """Runs fn with one intra-op thread. The reference issues ~70 small torch ops per step; on this shared 2-core machine
    each multi-threaded op can stall on a descheduled worker (measured: 85 s instead of 1.8 s for 2^12 rays), so the
    reference gets the setting that is fastest for it."""
    def run():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)
    return run


def cases(device):
    n = 1 << 14
    o, d = camera_rays(n, device)
    aabb = torch.tensor(AABB, device=device)
    t_near, t_far, _ = ray_aabb_intersect(o, d, aabb)
    result = []
    for name, binary in {**half_occupied_grids(), **surface_grid()}.items():
        bitfield = pack_bitfield(binary.to(device))

        def run(fn, bitfield=bitfield):
            return fn(o, d, t_near, t_far, bitfield, aabb, 1, RESOLUTION, render_step_size=STEP)

        samples = run(ray_marching).t_starts.shape[0]
        occupied = f"{binary.float().mean().item():.0%} cells"
        result.append(Case(f"ray_marching 128^3 {name} ({occupied}), 2^14 rays ({samples / n:.0f} samples/ray)",
                           lambda run=run: run(ray_marching), one_thread(lambda run=run: run(ray_marching_reference)),
                           samples, "samples"))
    return result
