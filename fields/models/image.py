"""Image fields: ``rgb(uv)`` at image coordinates uv in [-1, 1]^2 (u along the width, v along the height, pixel
centres at align_corners=False positions, as in ``grid_sample``). The output is linear (not squashed), so
spectra at initialisation (FreSh) are the backbone's own; clamp to [0, 1] for display and metrics."""
from typing import Optional, Sequence

import torch

from fields.models.field import NeuralField


class ImageField(NeuralField):
    """An image of ``height`` x ``width`` pixels and ``channels`` channels as a field of type ``type`` (backbone
    options in ``backbone``)."""

    signal = "image"

    def __init__(self, type: str = "hash", height: int = 512, width: int = 512, channels: int = 3,
                 backbone: Optional[dict] = None, aabb: Sequence[float] = (-1.0, -1.0, 1.0, 1.0)):
        super().__init__(type, 2, channels, aabb, backbone, height=height, width=width, channels=channels)
        self.height, self.width, self.channels = height, width, channels

    def rgb(self, uv: torch.Tensor) -> torch.Tensor:
        """Colours [N, channels] float32 (linear, not clamped) at uv [N, 2] float32 in [-1, 1]^2."""
        return self.backbone(uv, modulation=uv)

    def forward(self, uv: torch.Tensor) -> torch.Tensor:
        return self.rgb(uv)

    def pixel_coordinates(self, height: Optional[int] = None, width: Optional[int] = None) -> torch.Tensor:
        """uv [H * W, 2] float32 of every pixel centre, row-major (default size: the field's own)."""
        height, width = height or self.height, width or self.width
        v = (torch.arange(height, device=self.aabb.device) + 0.5) / height * 2.0 - 1.0
        u = (torch.arange(width, device=self.aabb.device) + 0.5) / width * 2.0 - 1.0
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        return torch.stack([uu, vv], dim=-1).reshape(-1, 2)

    def render(self, height: Optional[int] = None, width: Optional[int] = None, chunk: int = 1 << 18) -> torch.Tensor:
        """The image [H, W, channels] float32, clamped to [0, 1], evaluated ``chunk`` pixels at a time."""
        height, width = height or self.height, width or self.width
        uv = self.pixel_coordinates(height, width)
        out = torch.cat([self.rgb(uv[i:i + chunk]) for i in range(0, len(uv), chunk)])
        return out.clamp(0.0, 1.0).reshape(height, width, self.channels)
