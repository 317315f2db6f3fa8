"""Instant-NGP backbone: a multiresolution hash grid followed by a one-hidden-layer ReLU MLP."""
from typing import Optional

import torch

from fields.encodings import HashEncoding
from fields.models.backbone import Backbone, grid_lookup_coords, register_backbone
from fields.models.layers import relu_mlp, run_relu_mlp

_RADIANCE = dict(n_levels=16, log2_hashmap_size=19, base_resolution=16, finest_resolution=2048)
_SDF = dict(n_levels=16, log2_hashmap_size=17, base_resolution=16, finest_resolution=512)
_IMAGE = dict(n_levels=16, log2_hashmap_size=17, base_resolution=16, finest_resolution=1024)


@register_backbone
class HashGridBackbone(Backbone):
    backbone_type = "hash"

    def __init__(self, in_dim: int, out_dim: int, n_levels: int = 16, n_features_per_level: int = 2,
                 log2_hashmap_size: int = 19, base_resolution: int = 16, finest_resolution: int = 2048,
                 hidden_dim: int = 64, table_init_scale: float = 1e-4):
        """``table_init_scale``: the table starts U(-s, s). Instant-NGP's 1e-4 leaves the untrained output to the
        MLP; FreSh uses a larger s ("high values") so that the initial spectrum reflects the grid's resolutions."""
        super().__init__(in_dim, out_dim, n_levels=n_levels, n_features_per_level=n_features_per_level,
                         log2_hashmap_size=log2_hashmap_size, base_resolution=base_resolution,
                         finest_resolution=finest_resolution, hidden_dim=hidden_dim,
                         table_init_scale=table_init_scale)
        self.encoding = HashEncoding(in_dim, n_levels, n_features_per_level, log2_hashmap_size, base_resolution,
                                     finest_resolution, init_scale=table_init_scale)
        self.mlp = relu_mlp([self.encoding.output_dim, hidden_dim, out_dim])

    @classmethod
    def defaults(cls, signal: str) -> dict:
        return {"radiance": _RADIANCE, "sdf": _SDF, "image": _IMAGE}[signal]

    def forward(self, coords: torch.Tensor, modulation: Optional[torch.Tensor] = None,
                encoded: Optional[torch.Tensor] = None) -> torch.Tensor:
        return run_relu_mlp(self.mlp, self.encoding(grid_lookup_coords(coords), encoded))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        return self.encoding(grid_lookup_coords(coords))
