"""Radiance fields: the field contract of docs/design.md.

``density(x) -> (sigma, h)`` with a 16-channel ``h`` (raw density plus 15 geometry features, the PVD convention),
``color(h, d) -> rgb`` in [0, 1], and ``forward(x, d)`` returning both. The backbone maps the scene box to ``h``;
the colour head is the same for every field type, which is what lets PVD convert between them.

CAM on a radiance field: ``color_cam`` modulates the colour head by view direction (any field type), and a ``cam``
backbone option (mlp, ffn, siren, finer) modulates the trunk by xyz through additive tri-planes; both keep
``density(x)`` independent of the view. ``color_quantize_bits`` quantises the colour head (the backbone has its own
``quantize_bits``).
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
                 backbone: Optional[dict] = None, color_cam: Optional[dict] = None, color_quantize_bits: int = 0):
        optional = {k: v for k, v in (("color_cam", color_cam), ("color_quantize_bits", color_quantize_bits))
                    if v not in (None, 0)}  # left out when off, so plain configs stay as they were
        super().__init__(type, 3, GEOMETRY_CHANNELS, aabb, backbone, sh_degree=sh_degree,
                         color_hidden_dim=color_hidden_dim, density_bias=density_bias, **optional)
        self.color_head = ColorHead(sh_degree, color_hidden_dim, color_cam, color_quantize_bits)
        self.density_bias = density_bias

    def density(self, x: torch.Tensor, encoded: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma [N] (>= 0; zero outside the scene box) and the geometry features h [N, 16] at world points x [N, 3].
        ``encoded``: :meth:`encode` at x, computed earlier without autograd, reused instead of computed again."""
        unit = self.to_unit(x)
        inside = (unit.abs() <= 1.0).all(dim=-1)
        unit = unit.clamp(-1.0, 1.0)
        reuse = {} if encoded is None else {"encoded": encoded}  # only types with an encoder take the argument
        h = self.backbone(unit, modulation=unit, **reuse)
        sigma = trunc_exp(h[:, 0] + self.density_bias) * inside
        return sigma, h

    def encode(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The backbone's grid encoding at world points x [N, 3] (None for types without a grid encoder)."""
        return self.backbone.encode(self.to_unit(x).clamp(-1.0, 1.0))

    def color(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """rgb [N, 3] in [0, 1] from geometry features h [N, 16] and unit view directions d [N, 3]."""
        return self.color_head(h, d)

    def forward(self, x: torch.Tensor, d: torch.Tensor,
                encoded: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        sigma, h = self.density(x, encoded)
        return sigma, self.color(h, d)
