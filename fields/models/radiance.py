"""Radiance fields: the field contract of DESIGN.md.

``density(x) -> (sigma, h)`` with a 16-channel ``h`` (raw density plus 15 geometry features, the PVD convention),
``color(h, d) -> rgb`` in [0, 1], and ``forward(x, d)`` returning both. The backbone maps the scene box to ``h``;
the colour head is the same for every field type, which is what lets PVD convert between them.
"""
from typing import Optional, Sequence

import torch

from fields.models.activations import trunc_exp
from fields.models.color_head import GEOMETRY_CHANNELS, ColorHead
from fields.models.field import NeuralField


class RadianceField(NeuralField):
    signal = "radiance"

    def __init__(self, type: str = "hash", aabb: Sequence[float] = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5),
                 sh_degree: int = 4, color_hidden_dim: int = 64, density_bias: float = -1.0,
                 backbone: Optional[dict] = None):
        super().__init__(type, 3, GEOMETRY_CHANNELS, aabb, backbone, sh_degree=sh_degree,
                         color_hidden_dim=color_hidden_dim, density_bias=density_bias)
        self.color_head = ColorHead(sh_degree, color_hidden_dim)
        self.density_bias = density_bias

    def density(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma [N] (>= 0; zero outside the scene box) and the geometry features h [N, 16] at world points x [N, 3]."""
        unit = self.to_unit(x)
        inside = (unit.abs() <= 1.0).all(dim=-1)
        h = self.backbone(unit.clamp(-1.0, 1.0))
        sigma = trunc_exp(h[:, 0] + self.density_bias) * inside
        return sigma, h

    def color(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """rgb [N, 3] in [0, 1] from geometry features h [N, 16] and unit view directions d [N, 3]."""
        return self.color_head(h, d)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sigma, h = self.density(x)
        return sigma, self.color(h, d)
