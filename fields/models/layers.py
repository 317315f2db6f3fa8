"""Small building blocks shared by the field types."""
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from fields.ops.fused_mlp import fused_mlp, fused_mlp_supports

# Devices where the fused MLP op was measured faster than the layers it replaces (bench/ops.py --only fused_mlp,
# BENCHMARKS.md). Not yet measured on a GPU, so CUDA keeps the layer-by-layer path.
FUSED_MLP_DEVICES = ("cpu",)
_fused_mlp_enabled = True


@contextmanager
def fused_mlps(enabled: bool) -> Iterator[None]:
    """Turns the fused MLP op of :func:`run_relu_mlp` on or off for the duration (process-wide), e.g. to compare
    the two paths; they compute the same function and read the same parameters."""
    global _fused_mlp_enabled
    before, _fused_mlp_enabled = _fused_mlp_enabled, enabled
    try:
        yield
    finally:
        _fused_mlp_enabled = before


def relu_mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def run_relu_mlp(mlp: nn.Sequential, x: torch.Tensor, output_activation: str = "none") -> torch.Tensor:
    """``mlp`` (made by :func:`relu_mlp`) on x [N, I], followed by ``output_activation`` ("none" or "sigmoid"):
    one fused native op where it applies and was measured faster, else layer by layer."""
    if output_activation not in ("none", "sigmoid"):
        raise ValueError(f"run_relu_mlp: output_activation must be 'none' or 'sigmoid', got '{output_activation}'")
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    weights, biases = [m.weight for m in linears], [m.bias for m in linears]
    if _fused_mlp_enabled and x.device.type in FUSED_MLP_DEVICES and fused_mlp_supports(x, weights):
        return fused_mlp(x, weights, biases, output_activation)
    out = mlp(x)
    return torch.sigmoid(out) if output_activation == "sigmoid" else out
