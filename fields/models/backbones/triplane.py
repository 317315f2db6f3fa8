"""Tri-plane hybrid field: three axis-aligned feature planes (xy, xz, yz) sampled bilinearly at the projections of a
point, their samples summed (or concatenated), optionally joined by a positional encoding of the point, and decoded
by a small MLP (Cardace et al., ICLR 2024; docs/methods.md).

Sampling uses the core's fused ``triplane_sample`` with ``align_corners=False`` (the ``grid_sample`` default the
paper fits with): plane 0 is read at (x, y), plane 1 at (x, z), plane 2 at (y, z), the first coordinate along the
plane's width. A 2-D field (images) has a single plane read at (u, v). The planes are the tensor that tri-plane
processing (``fields.triplanes``) classifies, so their layout [planes, channels, H, W] is part of the contract.
"""
from typing import Optional

import torch
from torch import nn

from fields.encodings.positional import PositionalEncoding
from fields.models.backbone import Backbone, register_backbone
from fields.models.backbones.coordinate_mlp import Siren
from fields.models.layers import relu_mlp
from fields.ops.grid_sample import REDUCE_MODES, grid_sample_2d, triplane_sample

DECODERS = ("relu", "siren")
ALIGN_CORNERS = False


@register_backbone
class TriplaneBackbone(Backbone):
    backbone_type = "triplane"

    def __init__(self, in_dim: int, out_dim: int, resolution: int = 128, plane_channels: int = 16, reduce: str = "sum",
                 n_frequencies: int = 0, decoder: str = "relu", hidden_dim: int = 64, n_layers: int = 2,
                 first_omega: float = 30.0, init_std: float = 1e-3, plane_lr_scale: float = 1.0):
        super().__init__(in_dim, out_dim, resolution=resolution, plane_channels=plane_channels, reduce=reduce,
                         n_frequencies=n_frequencies, decoder=decoder, hidden_dim=hidden_dim, n_layers=n_layers,
                         first_omega=first_omega, init_std=init_std, plane_lr_scale=plane_lr_scale)
        if in_dim not in (2, 3):
            raise ValueError(f"the triplane field takes 2-D or 3-D coordinates, not {in_dim}-D")
        if reduce not in REDUCE_MODES:
            raise ValueError(f"triplane option reduce must be one of {', '.join(REDUCE_MODES)}, got {reduce!r}")
        if decoder not in DECODERS:
            raise ValueError(f"triplane option decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        n_planes = 3 if in_dim == 3 else 1
        self.reduce = reduce
        self.plane_lr_scale = plane_lr_scale
        self.planes = nn.Parameter(torch.randn(n_planes, plane_channels, resolution, resolution) * init_std)
        self.encoding = PositionalEncoding(n_frequencies) if n_frequencies > 0 else None
        plane_dim = plane_channels * (3 if in_dim == 3 and reduce == "concat" else 1)
        decoder_in = plane_dim + (in_dim * (1 + 2 * n_frequencies) if n_frequencies > 0 else 0)
        if decoder == "siren":
            self.decoder = Siren(decoder_in, out_dim, first_omega=first_omega, hidden_omega=30.0,
                                 hidden_dim=hidden_dim, n_layers=n_layers)
        else:
            self.decoder = relu_mlp([decoder_in] + [hidden_dim] * n_layers + [out_dim])

    @classmethod
    def defaults(cls, signal: str) -> dict:
        if signal == "radiance":
            return dict(resolution=128, plane_channels=16, hidden_dim=64, n_layers=2)
        if signal == "image":
            return dict(resolution=256, plane_channels=16, hidden_dim=64, n_layers=2)
        return dict(resolution=128, plane_channels=16, hidden_dim=64, n_layers=2)

    def param_groups(self, lr: float) -> list[dict]:
        """The planes at ``plane_lr_scale`` times the decoder's rate."""
        return [{"params": [self.planes], "lr": lr * self.plane_lr_scale},
                {"params": list(self.decoder.parameters()), "lr": lr}]

    def plane_features(self, coords: torch.Tensor) -> torch.Tensor:
        if self.in_dim == 2:
            return grid_sample_2d(self.planes[0], coords.contiguous(), ALIGN_CORNERS)
        return triplane_sample(self.planes, coords.contiguous(), ALIGN_CORNERS, self.reduce)

    def forward(self, coords: torch.Tensor, modulation: Optional[torch.Tensor] = None) -> torch.Tensor:
        features = self.plane_features(coords)
        if self.encoding is not None:
            features = torch.cat([features, self.encoding(coords)], dim=-1)
        return self.decoder(features)
