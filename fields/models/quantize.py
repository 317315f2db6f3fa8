"""Min-max fake quantisation with a straight-through estimator (CAM's 8-bit setting).

Training sees each quantised tensor rounded to ``2^bits`` evenly spaced levels between its own minimum and maximum;
the gradient passes through the rounding unchanged, so the float copy keeps learning. Storing such a tensor takes one
byte per value (for 8 bits) plus its minimum and step (two float32), which is what :func:`quantized_bytes` counts.
"""
import torch

STORED_RANGE_BYTES = 8  # float32 minimum and step per quantised tensor


def fake_quantize(tensor: torch.Tensor, bits: int) -> torch.Tensor:
    """``tensor`` rounded to ``2^bits`` levels over [min, max]; the backward pass is the identity (STE)."""
    if bits <= 0:
        return tensor
    lo, hi = tensor.detach().min(), tensor.detach().max()
    step = (hi - lo).clamp_min(1e-12) / (2**bits - 1)
    rounded = torch.round((tensor.detach() - lo) / step) * step + lo
    return tensor + (rounded - tensor).detach()


def quantized_bytes(tensor: torch.Tensor, bits: int) -> int:
    """Bytes to store ``tensor`` at ``bits`` per value (whole bytes per value) plus its range."""
    return tensor.numel() * ((bits + 7) // 8) + STORED_RANGE_BYTES


def check_bits(bits: int) -> int:
    if not 0 <= int(bits) <= 16:
        raise ValueError(f"quantize_bits must be 0 (off) or 1..16, got {bits}")
    return int(bits)
