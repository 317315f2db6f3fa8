"""Classifiers of fitted shapes: a Transformer over tri-plane channels (docs/methods.md) and a PointNet-style
point-cloud baseline."""
import torch
from torch import nn


def normalize_channels(planes: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """[B, 3, C, H, W] tri-planes -> [B, 3C, H, W], L2-normalised across the 3C channels at every location: raw
    magnitudes depend on the fit, the direction of the feature vector is what carries the shape."""
    stacked = planes.flatten(1, 2)
    return stacked / stacked.norm(dim=1, keepdim=True).clamp_min(eps)


def crop(features: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """A size x size window of [B, K, H, W]: random per sample with a generator (training), centred without."""
    height, width = features.shape[-2:]
    if generator is None:
        top, left = (height - size) // 2, (width - size) // 2
        return features[..., top:top + size, left:left + size]
    tops = torch.randint(0, height - size + 1, (len(features),), generator=generator).tolist()
    lefts = torch.randint(0, width - size + 1, (len(features),), generator=generator).tolist()
    return torch.stack([f[:, t:t + size, l:l + size] for f, t, l in zip(features, tops, lefts)])


class ChannelTransformer(nn.Module):
    """Each channel map of the normalised, cropped tri-plane is one token. Without positional encoding the encoder
    is invariant to the channel order, which independent fits leave arbitrary; max-pooling over tokens keeps it so."""

    def __init__(self, token_dim: int, n_classes: int, width: int = 128, layers: int = 4, heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(token_dim, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, K, h, w] normalised, cropped channel maps -> [B, n_classes] logits."""
        tokens = self.embed(features.flatten(2))
        return self.head(self.encoder(tokens).max(dim=1).values)


class PointNet(nn.Module):
    """A shared per-point MLP, a max-pool over points (order invariance) and a classifier MLP."""

    def __init__(self, n_classes: int, width: int = 256):
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                                       nn.Linear(128, width))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(width, 128), nn.ReLU(), nn.Linear(128, n_classes))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """[B, P, 3] points -> [B, n_classes] logits."""
        return self.head(self.point_mlp(points).max(dim=1).values)
