"""Fully fused MLP (the field heads' small ReLU MLPs in one op): native op and its pure-torch reference.

    a_0 = x,   a_l = relu(a_{l-1} W_l^T + b_l)  for the hidden layers,   y = act(a_{L-1} W_L^T + b_L)

with ``weights[l]`` [n_l, n_{l-1}] and ``biases[l]`` [n_l] as in ``nn.Linear``, and ``act`` "none" or "sigmoid".
The native op carries each block of samples through every layer in cache (CPU) or shared memory (CUDA) instead of
writing every layer's output to memory, and is one dispatched op per pass instead of two to three per layer. With
autograd on it keeps the hidden activations ([L-1, B, H]) for the backward pass, as the layer-by-layer path does.

Limits (:func:`fused_mlp_supports`): float32, widths 1 to 64, all hidden layers of one width, 1 to 9 layers.
"""
from typing import Sequence

import torch
from torch.autograd.function import once_differentiable

import fields._native  # noqa: F401  (registers torch.ops.fields)

MAX_LAYERS = 9
MAX_WIDTH = 64
OUTPUT_ACTIVATIONS = ("none", "sigmoid")


@torch.library.register_fake("fields::fused_mlp_forward")
def _forward_shapes(x, weights, biases, output_activation, keep_hidden):
    """Output shapes without computing (torch.compile traces with these)."""
    kept = len(weights) - 1 if keep_hidden else 0
    hidden_width = weights[0].shape[0] if len(weights) > 1 else 0
    return x.new_empty(x.shape[0], weights[-1].shape[0]), x.new_empty(kept, x.shape[0], hidden_width)


@torch.library.register_fake("fields::fused_mlp_backward")
def _backward_shapes(x, weights, biases, output_activation, hidden, out, grad_out, x_grad):
    grad_x = torch.empty_like(x) if x_grad else x.new_empty(0, x.shape[1])
    return grad_x, [torch.empty_like(w) for w in weights], [torch.empty_like(b) for b in biases]


class _FusedMlp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, output_activation, n_layers, *params):
        weights, biases = list(params[:n_layers]), list(params[n_layers:])
        keep_hidden = any(ctx.needs_input_grad)
        out, hidden = torch.ops.fields.fused_mlp_forward(x, weights, biases, output_activation, keep_hidden)
        if keep_hidden:
            ctx.save_for_backward(x, hidden, out, *params)
        ctx.output_activation, ctx.n_layers = output_activation, n_layers
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, hidden, out, *params = ctx.saved_tensors
        n = ctx.n_layers
        x_grad = ctx.needs_input_grad[0]
        grad_x, grad_weights, grad_biases = torch.ops.fields.fused_mlp_backward(
            x, params[:n], params[n:], ctx.output_activation, hidden, out, grad_out.contiguous(), x_grad)
        param_grads = [g if need else None for g, need in zip(grad_weights + grad_biases, ctx.needs_input_grad[3:])]
        return (grad_x if x_grad else None), None, None, *param_grads


def fused_mlp(x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
              output_activation: str = "none") -> torch.Tensor:
    """ReLU MLP with biases: x [B, I] -> [B, O] (float32), ``weights[l]`` [n_l, n_{l-1}], ``biases[l]`` [n_l].

    Differentiable in x and every weight and bias (first order). ``output_activation``: "none" or "sigmoid".

    Example::

        mlp = fields.models.layers.relu_mlp([32, 64, 16])
        y = fused_mlp(x, [mlp[0].weight, mlp[2].weight], [mlp[0].bias, mlp[2].bias])  # == mlp(x)
    """
    if len(weights) != len(biases):
        raise ValueError(f"fused_mlp: needs one bias per weight matrix, got {len(biases)} biases for "
                         f"{len(weights)} weights")
    return _FusedMlp.apply(x.contiguous(), output_activation, len(weights),
                           *[w.contiguous() for w in weights], *[b.contiguous() for b in biases])


def fused_mlp_supports(x: torch.Tensor, weights: Sequence[torch.Tensor]) -> bool:
    """True when :func:`fused_mlp` takes this input and these layers (dtype, widths, layer count)."""
    widths = [x.shape[-1]] + [w.shape[0] for w in weights]
    return (x.dim() == 2 and x.dtype == torch.float32 and all(w.dtype == torch.float32 for w in weights)
            and 1 <= len(weights) <= MAX_LAYERS and all(1 <= n <= MAX_WIDTH for n in widths)
            and len(set(widths[1:-1])) <= 1)


def fused_mlp_reference(x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
                        output_activation: str = "none") -> torch.Tensor:
    """Pure-torch twin of :func:`fused_mlp` (``nn.Linear`` and ``torch.relu`` layer by layer); the specification
    the kernels are tested against, and the path the field heads take when the op does not apply."""
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"fused_mlp: output_activation must be 'none' or 'sigmoid', got '{output_activation}'")
    if len(weights) != len(biases):
        raise ValueError(f"fused_mlp: needs one bias per weight matrix, got {len(biases)} biases for "
                         f"{len(weights)} weights")
    z = x
    for i, (weight, bias) in enumerate(zip(weights, biases)):
        z = torch.nn.functional.linear(z, weight, bias)
        if i < len(weights) - 1:
            z = torch.relu(z)
    return torch.sigmoid(z) if output_activation == "sigmoid" else z
