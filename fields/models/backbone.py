"""Backbones: the part of a field that maps coordinates to raw features, shared by every signal.

A backbone takes coordinates in [-1, 1]^in_dim (x indexes width, as in ``grid_sample``) and returns ``out_dim``
raw features. The signal wrappers (:mod:`fields.models.radiance`, :mod:`~fields.models.sdf`,
:mod:`~fields.models.image`) choose ``in_dim``/``out_dim`` and turn the features into density and colour, a signed
distance, or a colour. A new field type is one registered backbone; it then works for every signal and app.
"""
import inspect
from typing import ClassVar, Optional

import torch
from torch import nn

BACKBONES: dict[str, type["Backbone"]] = {}


def register_backbone(cls: type["Backbone"]) -> type["Backbone"]:
    """Class decorator: makes ``cls`` available as field type ``cls.backbone_type``."""
    BACKBONES[cls.backbone_type] = cls
    return cls


class Backbone(nn.Module):
    """Base of the field types. Subclasses set ``backbone_type``, take their hyperparameters as keyword arguments
    (passed on to ``options``) and are registered with :func:`register_backbone`."""

    backbone_type: ClassVar[str]

    def __init__(self, in_dim: int, out_dim: int, **options):
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.options = options  # JSON-able hyperparameters; the checkpoint stores them

    @classmethod
    def defaults(cls, signal: str) -> dict:
        """Hyperparameters tuned per signal ("radiance", "sdf", "image"); explicit options override them."""
        return {}

    @classmethod
    def default_lr(cls, signal: str) -> float:
        """Adam learning rate the trainers use for this field type unless --lr is given."""
        return 1e-2

    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser parameter groups (types with grids that want their own learning rate override this)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def forward(self, coords: torch.Tensor, modulation: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Raw features at coordinates.

        Args:
            coords: [N, in_dim] float32 in [-1, 1].
            modulation: [N, c] per-sample coordinate that modulating backbones (CAM) read; the others ignore it.
            encoded: (types with :meth:`encode` only) its output at ``coords``, used instead of computing it again.

        Returns:
            [N, out_dim] float32.
        """
        raise NotImplementedError

    def encode(self, coords: torch.Tensor) -> Optional[torch.Tensor]:
        """The backbone's grid encoding of ``coords`` [N, in_dim] ([N, E] float32), for ``forward(coords,
        encoded=...)`` to reuse, or None for types without one. A renderer that evaluates every sample's density
        without autograd and then trains on a subset of the samples encodes each sample only once."""
        return None


def grid_lookup_coords(coords: torch.Tensor) -> torch.Tensor:
    """Backbone coordinates in [-1, 1] -> the [0, 1] a grid lookup works on (contiguous, clamped)."""
    return ((coords + 1.0) * 0.5).clamp(0.0, 1.0).contiguous()


def build_backbone(backbone_type: str, in_dim: int, out_dim: int, signal: str, options: dict) -> Backbone:
    """The backbone of ``backbone_type`` with its defaults for ``signal`` overridden by ``options``; unknown types
    and options raise ValueError listing the accepted ones."""
    if backbone_type not in BACKBONES:
        raise ValueError(f"unknown field type {backbone_type!r}; known types: {', '.join(sorted(BACKBONES))}")
    cls = BACKBONES[backbone_type]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "in_dim", "out_dim"}
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(f"field type {backbone_type!r} has no option(s) {', '.join(sorted(unknown))}; "
                         f"its options: {', '.join(sorted(accepted))}")
    return cls(in_dim, out_dim, **{**cls.defaults(signal), **options})
