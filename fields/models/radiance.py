"""Radiance fields: the field contract of docs/design.md.

The backbone maps the scene box to ``h`` (raw density plus 15 geometry features, the PVD convention); the colour head
is the same for every field type, which is what lets PVD convert between them.
"""
from typing import Optional, Sequence

import torch

from fields.models.activations import trunc_exp
from fields.models.appearance import AppearanceCodes
from fields.models.color_head import GEOMETRY_CHANNELS, ColorHead
from fields.models.field import NeuralField


class RadianceField(NeuralField):
    """A backbone to ``h`` [N, 16] and the shared colour head.

    Args:
        type: the field type (backbone).
        aabb: scene box; density is zero outside it.
        sh_degree: SH bands of the view direction in the colour head (degree**2 coefficients).
        color_hidden_dim: width of the colour head's two hidden layers.
        density_bias: added to ``h[:, 0]`` before ``trunc_exp``.
        backbone: backbone options; its ``cam`` (mlp, ffn, siren, finer) modulates the trunk by xyz through additive
            tri-planes, and its ``quantize_bits`` quantises the backbone.
        color_cam: CAM options of the colour head, which modulate it by view direction (any type; None: off). Both
            CAMs keep ``density(x)`` independent of the view.
        color_quantize_bits: fake quantisation of the colour head (0: off).
        appearance_dim, appearance_count: a code of ``appearance_dim`` values per training image for the colour head
            (:mod:`fields.models.appearance`; 0: off).
    """

    signal = "radiance"

    def __init__(self, type: str = "hash", aabb: Sequence[float] = (-1.5, -1.5, -1.5, 1.5, 1.5, 1.5),
                 sh_degree: int = 4, color_hidden_dim: int = 64, density_bias: float = -1.0,
                 backbone: Optional[dict] = None, color_cam: Optional[dict] = None, color_quantize_bits: int = 0,
                 appearance_dim: int = 0, appearance_count: int = 0):
        optional = {k: v for k, v in (("color_cam", color_cam), ("color_quantize_bits", color_quantize_bits),
                                      ("appearance_dim", appearance_dim), ("appearance_count", appearance_count))
                    if v not in (None, 0)}  # left out when off, so plain configs stay as they were
        super().__init__(type, 3, GEOMETRY_CHANNELS, aabb, backbone, sh_degree=sh_degree,
                         color_hidden_dim=color_hidden_dim, density_bias=density_bias, **optional)
        self.color_head = ColorHead(sh_degree, color_hidden_dim, color_cam, color_quantize_bits, appearance_dim)
        self.appearance = AppearanceCodes(appearance_count, appearance_dim) if appearance_dim else None
        self.density_bias = density_bias

    def density(self, x: torch.Tensor, encoded: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Density and geometry features at world points.

        Args:
            x: [N, 3] float32 world points.
            encoded: :meth:`encode` at x, computed earlier without autograd, reused instead of computed again.

        Returns:
            (sigma [N] float32 >= 0, zero outside the scene box; h [N, 16] float32, raw density first).
        """
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

    def color(self, h: torch.Tensor, d: torch.Tensor, image_index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Colour seen along unit view directions.

        Args:
            h: [N, 16] float32 geometry features from :meth:`density`.
            d: [N, 3] float32 unit view directions.
            image_index: [N] int64 training image of each sample, whose appearance code is used (None: the mean
                code; ignored without appearance codes).

        Returns:
            [N, 3] float32 rgb in [0, 1].
        """
        codes = None if self.appearance is None else self.appearance(image_index, h.shape[0])
        return self.color_head(h, d, codes)

    def forward(self, x: torch.Tensor, d: torch.Tensor, encoded: Optional[torch.Tensor] = None,
                image_index: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma [N], rgb [N, 3]) at points x [N, 3] seen along d [N, 3]: :meth:`density` then :meth:`color`."""
        sigma, h = self.density(x, encoded)
        return sigma, self.color(h, d, image_index)
