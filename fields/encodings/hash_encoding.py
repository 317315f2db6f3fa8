"""Multiresolution hash-grid encoding as an ``nn.Module`` (Instant-NGP), over the native ``hash_encode`` op."""
import itertools
import math
from typing import Optional

import torch

from fields.ops.hash_encoding import hash_encode, hash_encode_reusing


def level_resolutions(n_levels: int, base_resolution: int, finest_resolution: int) -> list[int]:
    """res_l = floor(base * b^l) with b = exp((ln finest - ln base) / (L - 1)): a geometric progression from the
    base to the finest resolution. The 1e-6 keeps rounding (2047.9999...) from losing the finest level."""
    if n_levels == 1:
        return [base_resolution]
    growth = math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (n_levels - 1))
    return [math.floor(base_resolution * growth**level + 1e-6) for level in range(n_levels)]


def level_table_sizes(resolutions: list[int], input_dim: int, log2_hashmap_size: int) -> list[int]:
    """A level stores its (res + 1)^D vertices densely when they fit in 2^log2_hashmap_size rows, else hashes into
    exactly that many rows."""
    return [min((res + 1) ** input_dim, 2**log2_hashmap_size) for res in resolutions]


class HashEncoding(torch.nn.Module):
    """Maps points in [0, 1]^D (any leading shape, D = input_dim) to ``output_dim`` = n_levels * n_features_per_level
    features. The convention (vertex placement, dense vs hashed levels, clamping) is documented in
    :mod:`fields.ops.hash_encoding`."""

    def __init__(
        self,
        input_dim: int = 3,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        finest_resolution: int = 2048,
        init_scale: float = 1e-4,
    ):
        """``init_scale``: features start U(-init_scale, init_scale) (a weight choice, so not part of ``config``)."""
        super().__init__()
        if input_dim not in (2, 3):
            raise ValueError(f"HashEncoding: input_dim must be 2 or 3, got {input_dim}")
        if not 1 <= n_levels <= 64:
            raise ValueError(f"HashEncoding: n_levels must be in [1, 64], got {n_levels}")
        if not 1 <= log2_hashmap_size <= 31:
            raise ValueError(f"HashEncoding: log2_hashmap_size must be in [1, 31], got {log2_hashmap_size}")
        if n_features_per_level not in (1, 2, 4, 8):
            raise ValueError(f"HashEncoding: n_features_per_level must be 1, 2, 4 or 8, got {n_features_per_level}")
        if not init_scale > 0:
            raise ValueError(f"HashEncoding: init_scale must be positive, got {init_scale}")
        if not 1 <= base_resolution <= finest_resolution:
            raise ValueError(
                f"HashEncoding: need 1 <= base_resolution <= finest_resolution, got {base_resolution}, "
                f"{finest_resolution}"
            )
        self.input_dim = input_dim
        self.n_levels = n_levels
        self.n_features_per_level = n_features_per_level
        self.log2_hashmap_size = log2_hashmap_size
        self.base_resolution = base_resolution
        self.finest_resolution = finest_resolution

        resolutions = level_resolutions(n_levels, base_resolution, finest_resolution)
        sizes = level_table_sizes(resolutions, input_dim, log2_hashmap_size)
        # Host-side metadata read by the op on every call: plain CPU tensors, not buffers, so .to(device) leaves
        # them on the CPU and they are rebuilt from the config rather than stored in checkpoints.
        self.resolutions = torch.tensor(resolutions, dtype=torch.int64)
        self.level_offsets = torch.tensor([0, *itertools.accumulate(sizes)], dtype=torch.int64)
        self.embeddings = torch.nn.Parameter(torch.empty(int(self.level_offsets[-1]), n_features_per_level))
        torch.nn.init.uniform_(self.embeddings, -init_scale, init_scale)

    @property
    def output_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def config(self) -> dict:
        """JSON-able description; ``HashEncoding.from_config(config)`` rebuilds the module (weights aside)."""
        return {
            "otype": "HashGrid",
            "input_dim": self.input_dim,
            "n_levels": self.n_levels,
            "n_features_per_level": self.n_features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution,
            "finest_resolution": self.finest_resolution,
        }

    @classmethod
    def from_config(cls, config: dict) -> "HashEncoding":
        if config.get("otype", "HashGrid") != "HashGrid":
            raise ValueError(f"HashEncoding.from_config: expected otype 'HashGrid', got {config['otype']!r}")
        return cls(**{key: value for key, value in config.items() if key != "otype"})

    def forward(self, x: torch.Tensor, encoded: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``encoded``: this module's output at ``x``, computed earlier without autograd; it is returned with the
        backward pass attached instead of being computed again (:func:`fields.ops.hash_encode_reusing`)."""
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"HashEncoding: x must have shape [..., {self.input_dim}], got {list(x.shape)}")
        leading = x.shape[:-1]
        flat = x.reshape(-1, self.input_dim).contiguous()
        if encoded is None:
            out = hash_encode(flat, self.embeddings, self.level_offsets, self.resolutions)
        else:
            out = hash_encode_reusing(flat, self.embeddings, self.level_offsets, self.resolutions,
                                      encoded.reshape(-1, self.output_dim))
        return out.view(*leading, self.output_dim)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.config.items() if key != "otype")
