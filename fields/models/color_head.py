"""The colour head shared by every radiance field (the PVD convention): SH-encoded view direction plus the 15
geometry features -> two hidden ReLU layers -> sigmoid rgb."""
import torch
from torch import nn

from fields.models.layers import relu_mlp
from fields.ops import sh_encode

GEOMETRY_CHANNELS = 16  # raw density + 15 geometry features


class ColorHead(nn.Module):
    def __init__(self, sh_degree: int = 4, hidden_dim: int = 64):
        super().__init__()
        self.sh_degree = sh_degree
        self.mlp = relu_mlp([sh_degree**2 + GEOMETRY_CHANNELS - 1, hidden_dim, hidden_dim, 3])

    def forward(self, h: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        features = torch.cat([sh_encode(d.contiguous(), self.sh_degree), h[:, 1:]], dim=-1)
        return torch.sigmoid(self.mlp(features))
