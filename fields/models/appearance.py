"""Per-image appearance codes (NeRF-W / nerfacto's appearance embedding): one learned vector per training image,
given to the colour head beside the view direction, so that exposure and white-balance changes between the images of
a capture are explained by the code instead of by view-dependent colour or floaters.

Views that are not training images (held-out views, camera paths, the viewer) have no code of their own; they are
rendered with the mean of the training images' codes. Codes start at zero, so an untrained field renders as one
without codes.
"""
from typing import Optional

import torch
from torch import nn


class AppearanceCodes(nn.Module):
    def __init__(self, count: int, dim: int):
        super().__init__()
        if count < 1 or dim < 1:
            raise ValueError(f"AppearanceCodes: need at least one image and one dimension, got {count} x {dim}")
        self.codes = nn.Parameter(torch.zeros(count, dim))

    def forward(self, image_index: Optional[torch.Tensor], n: int) -> torch.Tensor:
        """Codes [n, dim]: of each sample's training image (``image_index`` [n] int64), or the mean code (None)."""
        if image_index is None:
            return self.codes.mean(dim=0).expand(n, -1)
        return self.codes[image_index]
