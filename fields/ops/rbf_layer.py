"""The fused Gaussian RBF layer of GNF / Gaussian RBFNet (docs/methods.md): native op and its pure-torch reference.

N axis-aligned Gaussian kernels in feature space, then a linear read-out, in one op:

    D[b, k]   = 1/2 * sum_d exp(log_precisions[k, d]) * (features[b, d] - centres[k, d])^2
    phi[b, k] = exp(-max(0, D[b, k]))
    out[b, j] = bias[j] + sum_k weight[j, k] * phi[b, k]            (weight as in nn.Linear: [out, N])

The read-out is fused because the decoder of GNF has no hidden layer: phi [B, N] never reaches memory, and the
backward pass recomputes it. D is evaluated through the expansion sum f^2 q - 2 sum f q c + sum q c^2 (q = exp(beta)/2;
no [B, N, F] intermediate) and clamped at 0, where cancellation makes it slightly negative; the clamp passes the
gradient where D >= 0, as ``torch.clamp`` does. Accumulation is in float32.

Non-finite input: a row of ``features`` holding NaN or inf gives NaN in that row of the output (never a crash, and
never a plausible-looking value); its gradients are NaN too. The shared trainers check the outputs and skip such a
step with a warning.
"""
import torch
from torch.autograd.function import once_differentiable

import fields._native  # noqa: F401  (registers torch.ops.fields)

MAX_FEATURES = 128
MAX_KERNELS = 256
MAX_OUTPUTS = 64


class _RbfLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, centres, log_precisions, weight, bias):
        ctx.save_for_backward(features, centres, log_precisions, weight, bias)
        return torch.ops.fields.rbf_layer_forward(features, centres, log_precisions, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        features, centres, log_precisions, weight, bias = ctx.saved_tensors
        if not any(ctx.needs_input_grad):
            return None, None, None, None, None
        grads = torch.ops.fields.rbf_layer_backward(features, centres, log_precisions, weight, bias,
                                                    grad_out.contiguous(), ctx.needs_input_grad[0])
        return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))


def rbf_layer(features: torch.Tensor, centres: torch.Tensor, log_precisions: torch.Tensor, weight: torch.Tensor,
              bias: torch.Tensor) -> torch.Tensor:
    """Gaussian RBF layer with its linear read-out (formula in the module docstring). All inputs float32,
    contiguous and differentiable (first order). Limits: F <= 128, N <= 256, O <= 64.

    Args:
        features: [B, F] encoder features.
        centres: [N, F] kernel centres.
        log_precisions: [N, F] beta; the precision is exp(beta), per kernel and feature.
        weight: [O, N] read-out weights (as in ``nn.Linear``).
        bias: [O] read-out bias.

    Returns:
        [B, O] float32 outputs.
    """
    return _RbfLayer.apply(features, centres, log_precisions, weight, bias)


def rbf_layer_reference(features: torch.Tensor, centres: torch.Tensor, log_precisions: torch.Tensor,
                        weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Pure-torch twin of :func:`rbf_layer` (the way GNF's published code evaluates it: two GEMMs, a clamp, exp and
    a Linear); the specification the kernels are tested against."""
    if features.dim() != 2 or centres.shape[-1:] != features.shape[-1:]:
        raise ValueError(f"rbf_layer: argument 'centres' must have shape [N, {features.shape[-1]}], "
                         f"got {list(centres.shape)}")
    quad = 0.5 * torch.exp(log_precisions)  # [N, F]
    distance = (features * features) @ quad.T - features @ (2.0 * quad * centres).T + (quad * centres**2).sum(-1)
    phi = torch.exp(-distance.clamp(min=0.0))
    return torch.nn.functional.linear(phi, weight, bias)
