"""The colour head shared by every radiance field (the PVD convention): SH-encoded view direction plus the 15
geometry features -> two hidden ReLU layers -> sigmoid rgb.

With ``cam`` (see :mod:`fields.models.cam`) the hidden layers are modulated by the view direction in spherical
coordinates, CAM's Mip-NeRF setting moved from the trunk to the colour head: modulating the trunk by direction would
make density depend on the viewer, and the occupancy grid, mesh export, viewer and PVD rely on ``density(x)`` alone.
``quantize_bits`` trains the head's layers (and its CAM grid) with min-max fake quantisation.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from fields.models.cam import build_cam, direction_coordinates
from fields.models.layers import relu_mlp, run_relu_mlp
from fields.models.quantize import check_bits, fake_quantize
from fields.ops import sh_encode

GEOMETRY_CHANNELS = 16  # raw density + 15 geometry features
DIRECTION_CAM = {"resolution": [10, 3], "layers": "all", "norm": "none"}  # azimuth x elevation, as in CAM's Mip-NeRF


class ColorHead(nn.Module):
    def __init__(self, sh_degree: int = 4, hidden_dim: int = 64, cam: Optional[dict] = None, quantize_bits: int = 0,
                 extra_dim: int = 0):
        super().__init__()
        self.sh_degree = sh_degree
        # extra_dim: more inputs after the geometry features (per-image appearance codes, fields.models.appearance)
        self.mlp = relu_mlp([sh_degree**2 + GEOMETRY_CHANNELS - 1 + extra_dim, hidden_dim, hidden_dim, 3])
        self.linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
        self.quantize_bits = check_bits(quantize_bits)
        self.cam = build_cam(cam, 2, len(self.linears) - 1, DIRECTION_CAM, wrap_x=True, quantize_bits=quantize_bits)

    def quantized_parameters(self) -> list[nn.Parameter]:
        return list(self.mlp.parameters()) if self.quantize_bits else []

    def forward(self, h: torch.Tensor, d: torch.Tensor, extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        d = d.contiguous()
        z = torch.cat([sh_encode(d, self.sh_degree), h[:, 1:], *([] if extra is None else [extra])], dim=-1)
        if self.cam is None and not self.quantize_bits:
            return run_relu_mlp(self.mlp, z, "sigmoid")  # the fused op where it applies
        affine = self.cam.sample(direction_coordinates(d)) if self.cam is not None else None
        bits = self.quantize_bits
        for i, layer in enumerate(self.linears):
            z = F.linear(z, fake_quantize(layer.weight, bits), fake_quantize(layer.bias, bits))
            if i < len(self.linears) - 1:
                if affine is not None and self.cam.modulates(i):
                    z = self.cam(i, z, *affine)
                z = torch.relu(z)
        return torch.sigmoid(z)
