"""NeRF's positional encoding [x, sin(2^k pi x), cos(2^k pi x)] for k < n_frequencies (the mlp field's input, and
the xyz term a tri-plane decoder may add to its plane features)."""
import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    def __init__(self, n_frequencies: int):
        super().__init__()
        # Not saved in checkpoints: it is fixed by n_frequencies, which the field's config records.
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(n_frequencies, dtype=torch.float32),
                             persistent=False)

    def output_dim(self, in_dim: int) -> int:
        return in_dim * (1 + 2 * len(self.frequencies))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """[..., D] -> [..., D * (1 + 2 * n_frequencies)]: the coordinates, then every sine, then every cosine."""
        angles = (coords[..., None] * self.frequencies).flatten(-2)
        return torch.cat([coords, torch.sin(angles), torch.cos(angles)], dim=-1)
