"""What every field shares: a backbone, a scene box, a JSON-able config and a parameter count."""
from typing import ClassVar, Optional, Sequence

import torch
from torch import nn

from fields.models.backbone import build_backbone
from fields.models.cam import split_cam_groups
from fields.models.quantize import quantized_bytes


class NeuralField(nn.Module):
    """Base of the signal wrappers (:class:`RadianceField`, :class:`SdfField`, :class:`ImageField`).

    Args:
        field_type: a registered backbone type ("hash", "rbf", "mlp", ...).
        in_dim: coordinate dimension (3 for radiance and SDF fields, 2 for images).
        out_dim: backbone output channels.
        aabb: the box that maps to the backbone's [-1, 1]^in_dim (min corner, then max corner).
        backbone: backbone options overriding the type's defaults for this signal.
        signal_options: the wrapper's own options, stored in ``config``.
    """

    signal: ClassVar[str]  # "radiance", "sdf" or "image"

    def __init__(self, field_type: str, in_dim: int, out_dim: int, aabb: Sequence[float],
                 backbone: Optional[dict] = None, **signal_options):
        super().__init__()
        self.field_type = field_type
        self.backbone = build_backbone(field_type, in_dim, out_dim, self.signal, backbone or {})
        self.register_buffer("aabb", torch.tensor([float(v) for v in aabb], dtype=torch.float32))
        self._signal_options = signal_options

    @property
    def config(self) -> dict:
        """Everything :func:`fields.models.build_field` needs to rebuild this field."""
        return {"type": self.field_type, "signal": self.signal, "aabb": [float(v) for v in self.aabb.tolist()],
                **self._signal_options, "backbone": dict(self.backbone.options)}

    def num_parameters(self) -> int:
        """Number of trainable values."""
        return sum(p.numel() for p in self.parameters())

    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser parameter groups: the backbone's, then everything else (colour head) at ``lr`` (its CAM grids
        in a "cam" group at 10x)."""
        groups = self.backbone.param_groups(lr)
        in_backbone = {id(p) for p in self.backbone.parameters()}
        rest = [p for p in self.parameters() if id(p) not in in_backbone]
        return groups + split_cam_groups(self, rest, lr)

    def size_mb(self) -> float:
        """Size of the parameters (and stored buffers) in MB (10^6 bytes): quantised parameters (modules with a
        ``quantize_bits`` and ``quantized_parameters()``) at their bit width plus their range, the rest at their
        current precision."""
        bits = {id(p): m.quantize_bits for m in self.modules() if hasattr(m, "quantized_parameters")
                for p in m.quantized_parameters()}
        total = sum(quantized_bytes(p, bits[id(p)]) if id(p) in bits else p.numel() * p.element_size()
                    for p in self.parameters())
        return (total + sum(b.numel() * b.element_size() for b in self.buffers())) / 1e6

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """World points [N, D] in the scene box -> backbone coordinates [N, D] in [-1, 1]^D."""
        dim = x.shape[-1]
        lo, hi = self.aabb[:dim], self.aabb[dim:]
        return (x - lo) / (hi - lo) * 2.0 - 1.0
