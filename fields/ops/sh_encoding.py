"""Spherical-harmonics encoding of unit view directions (tiny-cuda-nn's degree convention: degree² outputs)."""
import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)


class _ShEncode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dirs: torch.Tensor, degree: int) -> torch.Tensor:
        ctx.save_for_backward(dirs)
        ctx.degree = degree
        return torch.ops.fields.sh_encode_forward(dirs, degree)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (dirs,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return torch.ops.fields.sh_encode_backward(dirs, grad_out.contiguous(), ctx.degree), None


def sh_encode(dirs: torch.Tensor, degree: int = 4) -> torch.Tensor:
    """Real spherical harmonics of unit directions.

    Args:
        dirs: [N, 3] float32 unit directions (differentiable).
        degree: number of bands, 1 to 5.

    Returns:
        [N, degree**2] float32 coefficients, band by band.
    """
    return _ShEncode.apply(dirs, degree)


def sh_encode_reference(dirs: torch.Tensor, degree: int = 4) -> torch.Tensor:
    """Pure-torch twin of :func:`sh_encode`; the specification the kernels are tested against."""
    if not 1 <= degree <= 5:
        raise ValueError(f"sh_encode: degree must be in [1, 5], got {degree}")
    x, y, z = dirs.unbind(-1)
    one = torch.ones_like(x)
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    bands = [
        [0.28209479177387814 * one],
        [-0.48860251190291987 * y, 0.48860251190291987 * z, -0.48860251190291987 * x],
        [
            1.0925484305920792 * xy,
            -1.0925484305920792 * yz,
            0.31539156525252005 * (2 * zz - xx - yy),
            -1.0925484305920792 * xz,
            0.54627421529603959 * (xx - yy),
        ],
        [
            -0.59004358992664352 * y * (3 * xx - yy),
            2.8906114426405538 * xy * z,
            -0.45704579946446572 * y * (4 * zz - xx - yy),
            0.3731763325901154 * z * (2 * zz - 3 * xx - 3 * yy),
            -0.45704579946446572 * x * (4 * zz - xx - yy),
            1.4453057213202769 * z * (xx - yy),
            -0.59004358992664352 * x * (xx - 3 * yy),
        ],
        [
            2.5033429417967046 * xy * (xx - yy),
            -1.7701307697799304 * yz * (3 * xx - yy),
            0.94617469575756008 * xy * (7 * zz - 1),
            -0.66904654355728921 * yz * (7 * zz - 3),
            0.10578554691520431 * (zz * (35 * zz - 30) + 3),
            -0.66904654355728921 * xz * (7 * zz - 3),
            0.47308734787878004 * (xx - yy) * (7 * zz - 1),
            -1.7701307697799304 * xz * (xx - 3 * yy),
            0.62583573544917614 * (xx * (xx - 3 * yy) - yy * (3 * xx - yy)),
        ],
    ]
    return torch.stack([f for band in bands[:degree] for f in band], dim=-1)
