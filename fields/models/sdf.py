"""Signed distance fields: ``sdf(x)`` at points of the box [-1, 1]^3 (meshes are normalised into it).

Negative inside, positive outside, in the units of the normalised mesh.
"""
from typing import Optional, Sequence

import torch

from fields.models.field import NeuralField


class SdfField(NeuralField):
    """A signed distance field of type ``type`` (backbone options in ``backbone``) over the box ``aabb``."""

    signal = "sdf"

    def __init__(self, type: str = "hash", aabb: Sequence[float] = (-1.0, -1.0, -1.0, 1.0, 1.0, 1.0),
                 backbone: Optional[dict] = None):
        super().__init__(type, 3, 1, aabb, backbone)

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distances [N] float32 at world points x [N, 3] float32 (negative inside)."""
        unit = self.to_unit(x)
        return self.backbone(unit, modulation=unit)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sdf(x)
