import torch

from bench.op_cases import Case
from fields.ops import grid_sample

POINTS = 1 << 18


def _inputs(grid_shape, coord_dims, device, coords_grad):
    grid = torch.randn(1, *grid_shape, device=device).requires_grad_(True)
    coords = (torch.rand(1, POINTS, coord_dims, device=device) * 2 - 1).requires_grad_(coords_grad)
    return grid, coords


def _op_cases(label, native, reference, grid_shape, coord_dims, width, device):
    """Forward, forward+backward to the grid, and forward+backward to grid and coordinates, native vs reference."""
    grid, coords = _inputs(grid_shape, coord_dims, device, coords_grad=False)
    _, coords_with_grad = _inputs(grid_shape, coord_dims, device, coords_grad=True)
    grad = torch.randn(1, POINTS, width, device=device)

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(grid, coords)
        return run

    def forward_backward(fn, c):
        inputs = [grid, c] if c.requires_grad else [grid]
        return lambda: torch.autograd.grad(fn(grid, c), inputs, grad)

    return [
        Case(f"{label} fwd", forward(native), forward(reference), POINTS, "points"),
        Case(f"{label} fwd+bwd (grid)", forward_backward(native, coords), forward_backward(reference, coords),
             POINTS, "points"),
        Case(f"{label} fwd+bwd (grid+coords)", forward_backward(native, coords_with_grad),
             forward_backward(reference, coords_with_grad), POINTS, "points"),
    ]


def _twins(name, *args):
    """The native op ``name`` and its ``*_reference``, each called as ``op(grid, coords, *args)``."""
    native, reference = getattr(grid_sample, name), getattr(grid_sample, name + "_reference")
    return lambda g, c: native(g, c, *args), lambda g, c: reference(g, c, *args)


def cases(device):
    return [
        *_op_cases("triplane sum 3x32x128^2, 2^18", *_twins("triplane_sample", False, "sum"), (3, 32, 128, 128), 3,
                   32, device),
        *_op_cases("triplane concat 3x32x256^2, 2^18", *_twins("triplane_sample", False, "concat"),
                   (3, 32, 256, 256), 3, 96, device),
        *_op_cases("grid 2d 32x256^2, 2^18", *_twins("grid_sample_2d", False), (32, 256, 256), 2, 32, device),
        *_op_cases("grid 3d 16x64^3, 2^18", *_twins("grid_sample_3d", True), (16, 64, 64, 64), 3, 16, device),
    ]
