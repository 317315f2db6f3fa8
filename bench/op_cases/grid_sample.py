import torch

from bench.op_cases import Case
from fields.ops.grid_sample import (
    grid_sample_2d,
    grid_sample_2d_reference,
    grid_sample_3d,
    grid_sample_3d_reference,
    triplane_sample,
    triplane_sample_reference,
)

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


def _triplane(reduce, align_corners=False):
    return (
        lambda g, c: triplane_sample(g, c, align_corners, reduce),
        lambda g, c: triplane_sample_reference(g, c, align_corners, reduce),
    )


def cases(device):
    return [
        *_op_cases("triplane sum 3x32x128^2, 2^18", *_triplane("sum"), (3, 32, 128, 128), 3, 32, device),
        *_op_cases("triplane concat 3x32x256^2, 2^18", *_triplane("concat"), (3, 32, 256, 256), 3, 96,
                   device),
        *_op_cases("grid 2d 32x256^2, 2^18", lambda g, c: grid_sample_2d(g, c, False),
                   lambda g, c: grid_sample_2d_reference(g, c, False), (32, 256, 256), 2, 32, device),
        *_op_cases("grid 3d 16x64^3, 2^18", lambda g, c: grid_sample_3d(g, c, True),
                   lambda g, c: grid_sample_3d_reference(g, c, True), (16, 64, 64, 64), 3, 16, device),
    ]
