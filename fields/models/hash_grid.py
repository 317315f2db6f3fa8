"""Instant-NGP-style radiance field: a multiresolution hash grid, a small density MLP and an SH-conditioned colour MLP.

Follows the field contract of DESIGN.md: ``density(x) -> (sigma, h)`` with a 16-channel ``h`` (raw density plus 15
geometry features, the PVD convention) and ``color(h, d) -> rgb``.
"""
from typing import Sequence

import torch
from torch import nn

from fields.encodings import HashEncoding
from fields.models.activations import trunc_exp
from fields.ops import sh_encode

GEOMETRY_CHANNELS = 16  # raw density + 15 geometry features


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HashGridField(nn.Module):
    field_type = "hash"

    def __init__(
        self,
        aabb: Sequence[float] = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5),
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        finest_resolution: int = 2048,
        hidden_dim: int = 64,
        sh_degree: int = 4,
        density_bias: float = -1.0,
    ):
        super().__init__()
        self._config = {
            "aabb": [float(v) for v in aabb],
            "n_levels": n_levels,
            "n_features_per_level": n_features_per_level,
            "log2_hashmap_size": log2_hashmap_size,
            "base_resolution": base_resolution,
            "finest_resolution": finest_resolution,
            "hidden_dim": hidden_dim,
            "sh_degree": sh_degree,
            "density_bias": density_bias,
        }
        self.register_buffer("aabb", torch.tensor(aabb, dtype=torch.float32))
        self.encoding = HashEncoding(
            input_dim=3,
            n_levels=n_levels,
            n_features_per_level=n_features_per_level,
            log2_hashmap_size=log2_hashmap_size,
            base_resolution=base_resolution,
            finest_resolution=finest_resolution,
        )
        self.density_mlp = _mlp([self.encoding.output_dim, hidden_dim, GEOMETRY_CHANNELS])
        self.color_mlp = _mlp([sh_degree**2 + GEOMETRY_CHANNELS - 1, hidden_dim, hidden_dim, 3])
        self.sh_degree = sh_degree
        self.density_bias = density_bias

    @property
    def config(self) -> dict:
        return {"type": self.field_type, **self._config}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def density(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma [N] (>= 0; zero outside the scene box) and the geometry feature h [N, 16] at world points x [N, 3]."""
        lo, hi = self.aabb[:3], self.aabb[3:]
        unit = (x - lo) / (hi - lo)
        inside = ((unit >= 0) & (unit <= 1)).all(dim=-1)
        h = self.density_mlp(self.encoding(unit.clamp(0.0, 1.0)))
        sigma = trunc_exp(h[:, 0] + self.density_bias) * inside
        return sigma, h

    def color(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """rgb [N, 3] in [0, 1] from geometry features h [N, 16] and unit view directions d [N, 3]."""
        features = torch.cat([sh_encode(d.contiguous(), self.sh_degree), h[:, 1:]], dim=-1)
        return torch.sigmoid(self.color_mlp(features))

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sigma, h = self.density(x)
        return sigma, self.color(h, d)
