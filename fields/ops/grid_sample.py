"""Bilinear / trilinear sampling of dense 2-D and 3-D feature grids, and fused tri-plane sampling.

Semantics are exactly those of ``torch.nn.functional.grid_sample(mode="bilinear", padding_mode="border")``:
coordinates lie in [-1, 1] (outside values are clamped to the border), ``coords[..., 0]`` indexes the last grid axis
(W), ``coords[..., 1]`` the one before (H) and ``coords[..., 2]`` depth (D). ``align_corners=True`` maps -1 and +1 to
the centres of the corner texels, ``False`` to their outer edges. Outputs are point-major: [B, N, C].

Every op also accepts unbatched inputs (no leading B on either argument) and then returns [N, C].
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

import fields._native  # noqa: F401  (registers torch.ops.fields)

REDUCE_MODES = ("sum", "product", "concat")


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, coords, align_corners, dims):
        ctx.save_for_backward(features, coords)
        ctx.align_corners = align_corners
        ctx.backward_op = getattr(torch.ops.fields, f"grid_sample_{dims}d_backward")
        return getattr(torch.ops.fields, f"grid_sample_{dims}d_forward")(features, coords, align_corners)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        features, coords = ctx.saved_tensors
        need_features, need_coords = ctx.needs_input_grad[:2]
        if not (need_features or need_coords):
            return None, None, None, None
        grad_features, grad_coords = ctx.backward_op(
            features, coords, grad_out.contiguous(), ctx.align_corners, need_features, need_coords
        )
        return grad_features, grad_coords, None, None


class _TriplaneSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, planes, coords, align_corners, reduce):
        ctx.save_for_backward(planes, coords)
        ctx.align_corners = align_corners
        ctx.reduce = reduce
        return torch.ops.fields.triplane_sample_forward(planes, coords, align_corners, reduce)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        planes, coords = ctx.saved_tensors
        need_planes, need_coords = ctx.needs_input_grad[:2]
        if not (need_planes or need_coords):
            return None, None, None, None
        grad_planes, grad_coords = torch.ops.fields.triplane_sample_backward(
            planes, coords, grad_out.contiguous(), ctx.align_corners, ctx.reduce, need_planes, need_coords
        )
        return grad_planes, grad_coords, None, None


def _batched(grid: torch.Tensor, coords: torch.Tensor, unbatched_dim: int):
    """Adds the batch dimension to unbatched inputs (recognised by the grid's rank); returns (grid, coords, added)."""
    if grid.dim() == unbatched_dim:
        return grid.unsqueeze(0), coords.unsqueeze(0), True
    return grid, coords, False


def grid_sample_2d(features: torch.Tensor, coords: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear samples of a 2-D feature grid (differentiable in features and coords).

    Args:
        features: [B, C, H, W] float32, or [C, H, W] unbatched.
        coords: [B, N, 2] float32 (x -> W, y -> H) in [-1, 1], or [N, 2] unbatched.
        align_corners: as in ``F.grid_sample``.

    Returns:
        [B, N, C] float32, or [N, C] unbatched.
    """
    features, coords, added = _batched(features, coords, 3)
    out = _GridSample.apply(features, coords, align_corners, 2)
    return out.squeeze(0) if added else out


def grid_sample_3d(features: torch.Tensor, coords: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Trilinear samples of a 3-D feature grid (differentiable in features and coords).

    Args:
        features: [B, C, D, H, W] float32, or [C, D, H, W] unbatched.
        coords: [B, N, 3] float32 (x -> W, y -> H, z -> D) in [-1, 1], or [N, 3] unbatched.
        align_corners: as in ``F.grid_sample``.

    Returns:
        [B, N, C] float32, or [N, C] unbatched.
    """
    features, coords, added = _batched(features, coords, 4)
    out = _GridSample.apply(features, coords, align_corners, 3)
    return out.squeeze(0) if added else out


def triplane_sample(planes: torch.Tensor, coords: torch.Tensor, align_corners: bool, reduce: str = "sum"):
    """Samples the xy, xz and yz planes in one fused pass (differentiable in planes and coords): plane 0 at (x, y),
    plane 1 at (x, z), plane 2 at (y, z), the first coordinate along W.

    Args:
        planes: [B, 3, C, H, W] float32, or [3, C, H, W] unbatched.
        coords: [B, N, 3] float32 in [-1, 1], or [N, 3] unbatched.
        align_corners: as in ``F.grid_sample``.
        reduce: how the three samples combine: "sum", "product" or "concat" (plane 0's channels first).

    Returns:
        [B, N, C] float32 ([B, N, 3C] for "concat"); no B when unbatched.
    """
    planes, coords, added = _batched(planes, coords, 4)
    out = _TriplaneSample.apply(planes, coords, align_corners, reduce)
    return out.squeeze(0) if added else out


# ---- pure-torch references (the specification) -------------------------------------------------------------------


def grid_sample_2d_reference(features: torch.Tensor, coords: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Pure-torch twin of :func:`grid_sample_2d`, built on ``F.grid_sample``."""
    features, coords, added = _batched(features, coords, 3)
    grid = coords.unsqueeze(2)  # [B, N, 1, 2]
    out = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=align_corners)
    out = out.squeeze(3).transpose(1, 2)  # [B, C, N, 1] -> [B, N, C]
    return out.squeeze(0) if added else out


def grid_sample_3d_reference(features: torch.Tensor, coords: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Pure-torch twin of :func:`grid_sample_3d`, built on ``F.grid_sample``."""
    features, coords, added = _batched(features, coords, 4)
    grid = coords[:, :, None, None, :]  # [B, N, 1, 1, 3]
    out = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=align_corners)
    out = out.flatten(2).transpose(1, 2)  # [B, C, N, 1, 1] -> [B, N, C]
    return out.squeeze(0) if added else out


PLANE_AXES = ((0, 1), (0, 2), (1, 2))  # point axes each plane is sampled at: xy, xz, yz


def triplane_sample_reference(planes: torch.Tensor, coords: torch.Tensor, align_corners: bool, reduce: str = "sum"):
    """Pure-torch twin of :func:`triplane_sample`: three ``F.grid_sample`` calls and a reduction."""
    if reduce not in REDUCE_MODES:
        raise ValueError(f"triplane_sample: argument 'reduce' must be one of {REDUCE_MODES}, got {reduce!r}")
    planes, coords, added = _batched(planes, coords, 4)
    samples = [
        grid_sample_2d_reference(planes[:, p], coords[..., list(axes)], align_corners)
        for p, axes in enumerate(PLANE_AXES)
    ]
    if reduce == "sum":
        out = samples[0] + samples[1] + samples[2]
    elif reduce == "product":
        out = samples[0] * samples[1] * samples[2]
    else:
        out = torch.cat(samples, dim=-1)
    return out.squeeze(0) if added else out
