"""Coordinate MLPs: ReLU + positional encoding (``mlp``), random Fourier features (``ffn``), sine activations
(``siren``) and FINER's variable-periodic activations (``finer``).

All four share one loop: embed -> [linear -> CAM -> activation] x n_layers -> linear head. CAM (``cam``, a JSON-able
dict, see :mod:`fields.models.cam`) modulates the pre-activations by the ``modulation`` coordinate the signal wrapper
passes (pixel, xyz); ``quantize_bits`` trains the linear layers and the CAM grids with min-max fake quantisation.
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fields.encodings.positional import PositionalEncoding
from fields.models.backbone import Backbone, register_backbone
from fields.models.cam import build_cam, split_cam_groups
from fields.models.quantize import check_bits, fake_quantize

CAM_RESOLUTION = {1: 5, 2: 32, 3: 16}  # per modulation-coordinate dimension: CAM's T-NeRF and image grids


class CoordinateMLP(Backbone):
    cam_norm = "layer"  # CAM's normalisation for ReLU networks (sine networks override it)

    @classmethod
    def default_lr(cls, signal: str) -> float:
        return 5e-4 if signal == "radiance" else 3e-3  # the ReLU networks' (sine networks override it)

    def __init__(self, in_dim: int, out_dim: int, embed_dim: int, hidden_dim: int, n_layers: int, **options):
        """``options`` are the subclass's hyperparameters (stored in the config); ``skips`` among them lists the
        layers whose input is concatenated with the embedding again. ``cam`` and ``quantize_bits`` are left out of
        the config when off, so the configs of plain fields stay as they were."""
        options = {k: v for k, v in options.items() if k not in ("cam", "quantize_bits") or v not in (None, 0)}
        super().__init__(in_dim, out_dim, hidden_dim=hidden_dim, n_layers=n_layers, **options)
        self.skips = set(options.get("skips", ()))
        self.hidden = nn.ModuleList(
            nn.Linear((0 if i == 0 else hidden_dim) + (embed_dim if i == 0 or i in self.skips else 0), hidden_dim)
            for i in range(n_layers)
        )
        self.head = nn.Linear(hidden_dim, out_dim)
        self.quantize_bits = check_bits(options.get("quantize_bits", 0))
        self.cam = build_cam(options.get("cam"), in_dim, n_layers,
                             {"resolution": CAM_RESOLUTION.get(in_dim),
                              "norm": self.cam_norm}, quantize_bits=self.quantize_bits)

    def param_groups(self, lr: float) -> list[dict]:
        return split_cam_groups(self, list(self.parameters()), lr)

    def quantized_parameters(self) -> list[nn.Parameter]:
        """The linear layers' parameters (the CAM grids are the CAM module's own)."""
        return [p for layer in [*self.hidden, self.head] for p in layer.parameters()] if self.quantize_bits else []

    def embed(self, coords: torch.Tensor) -> torch.Tensor:
        return coords

    def layer_input(self, index: int, z: torch.Tensor) -> torch.Tensor:
        return z

    def head_input(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def activation(self, index: int, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def linear(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        bits = self.quantize_bits
        return F.linear(x, fake_quantize(layer.weight, bits), fake_quantize(layer.bias, bits))

    def forward(self, coords: torch.Tensor, modulation: Optional[torch.Tensor] = None) -> torch.Tensor:
        embedded = self.embed(coords)
        affine = self.cam.sample(modulation) if self.cam is not None else None
        z = embedded
        for i, layer in enumerate(self.hidden):
            if i in self.skips:
                z = torch.cat([z, embedded], dim=-1)
            pre = self.linear(layer, self.layer_input(i, z))
            if affine is not None and self.cam.modulates(i):
                pre = self.cam(i, pre, *affine)
            z = self.activation(i, pre)
        return self.linear(self.head, self.head_input(z))


@register_backbone
class PositionalMLP(CoordinateMLP):
    """ReLU MLP on NeRF's positional encoding [x, sin(2^k pi x), cos(2^k pi x)] for k < n_frequencies."""
    backbone_type = "mlp"

    def __init__(self, in_dim: int, out_dim: int, n_frequencies: int = 10, hidden_dim: int = 256,
                 n_layers: int = 3, skips: Sequence[int] = (), cam: Optional[dict] = None, quantize_bits: int = 0):
        super().__init__(in_dim, out_dim, in_dim * (1 + 2 * n_frequencies), hidden_dim, n_layers,
                         n_frequencies=n_frequencies, skips=list(skips), cam=cam, quantize_bits=quantize_bits)
        self.encoding = PositionalEncoding(n_frequencies)

    @classmethod
    def defaults(cls, signal: str) -> dict:
        if signal == "radiance":  # a CPU-sized NeRF trunk; the vanilla 8 x 256 is --field-options
            return dict(n_frequencies=10, hidden_dim=128, n_layers=6, skips=[3])
        return dict(n_frequencies=10 if signal == "image" else 6)

    def embed(self, coords: torch.Tensor) -> torch.Tensor:
        return self.encoding(coords)


@register_backbone
class FourierFeatureMLP(CoordinateMLP):
    """ReLU MLP on random Fourier features [sin(2 pi B x), cos(2 pi B x)], B ~ N(0, sigma^2) fixed at init."""
    backbone_type = "ffn"

    def __init__(self, in_dim: int, out_dim: int, sigma: float = 10.0, n_frequencies: int = 128,
                 hidden_dim: int = 256, n_layers: int = 3, skips: Sequence[int] = (), cam: Optional[dict] = None,
                 quantize_bits: int = 0):
        super().__init__(in_dim, out_dim, 2 * n_frequencies, hidden_dim, n_layers, sigma=sigma,
                         n_frequencies=n_frequencies, skips=list(skips), cam=cam, quantize_bits=quantize_bits)
        self.register_buffer("basis", torch.randn(in_dim, n_frequencies) * sigma)

    @classmethod
    def defaults(cls, signal: str) -> dict:
        # sigma 10 (the image default) is too high-frequency for a 3-D scene box: converting the lego hash teacher
        # into an ffn student for 60 s gave -1.71 dB against the teacher with sigma 10, -1.13 with 6, -0.31 with 3.
        return dict(sigma=3.0) if signal == "radiance" else {}

    def embed(self, coords: torch.Tensor) -> torch.Tensor:
        angles = 2.0 * math.pi * coords @ self.basis
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


@register_backbone
class Siren(CoordinateMLP):
    """Sine layers in FreSh's form sin(W (omega z) + b): omega scales the layer input, not the bias. The first
    layer's omega (``first_omega``) sets the initial spectrum and is what FreSh selects. CAM on sine layers defaults
    to no normalisation: normalising would rescale the pre-activations, i.e. the frequencies omega sets.

    ``omega_head`` multiplies the linear head's input by ``hidden_omega`` as well (FreSh's SIREN configuration,
    ``apply_omega_when_linear``): same initial spectrum, but the head's effective weights start omega times larger
    and train omega times faster. Off by default (the original SIREN head); stored in the config only when on."""
    backbone_type = "siren"
    cam_norm = "none"

    def __init__(self, in_dim: int, out_dim: int, first_omega: float = 30.0, hidden_omega: float = 30.0,
                 hidden_dim: int = 256, n_layers: int = 3, cam: Optional[dict] = None, quantize_bits: int = 0,
                 omega_head: bool = False, **options):
        if omega_head:
            options["omega_head"] = True
        super().__init__(in_dim, out_dim, in_dim, hidden_dim, n_layers, first_omega=first_omega,
                         hidden_omega=hidden_omega, cam=cam, quantize_bits=quantize_bits, **options)
        self.omegas = [first_omega] + [hidden_omega] * (n_layers - 1)
        self.head_omega = hidden_omega if omega_head else 1.0
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                bound = 1.0 / layer.in_features if i == 0 else math.sqrt(6.0 / layer.in_features) / hidden_omega
                layer.weight.uniform_(-bound, bound)
            bound = math.sqrt(6.0 / hidden_dim) / hidden_omega
            self.head.weight.uniform_(-bound, bound)

    @classmethod
    def default_lr(cls, signal: str) -> float:
        return 5e-5 if signal == "radiance" else 1e-4

    def layer_input(self, index: int, z: torch.Tensor) -> torch.Tensor:
        return self.omegas[index] * z

    def head_input(self, z: torch.Tensor) -> torch.Tensor:
        return self.head_omega * z

    def activation(self, index: int, pre: torch.Tensor) -> torch.Tensor:
        return torch.sin(pre)


@register_backbone
class Finer(Siren):
    """FINER: variable-periodic sin(omega (|h| + 1) h) on h = W z + b, with omega multiplying the whole
    pre-activation (FINER's own form, unlike the Siren layers above), and the scale |h| + 1 held constant in
    backprop (FINER's default). The first layer's bias is drawn from U(-k, k) with k = ``bias_scale``: a larger k
    puts units on the steeper part of the activation and widens the initial spectrum (what FreSh selects)."""
    backbone_type = "finer"

    def __init__(self, in_dim: int, out_dim: int, first_omega: float = 30.0, hidden_omega: float = 30.0,
                 bias_scale: float = 1.0, hidden_dim: int = 256, n_layers: int = 3, cam: Optional[dict] = None,
                 quantize_bits: int = 0):
        super().__init__(in_dim, out_dim, first_omega, hidden_omega, hidden_dim, n_layers, cam, quantize_bits,
                         bias_scale=bias_scale)
        with torch.no_grad():
            self.hidden[0].bias.uniform_(-bias_scale, bias_scale)

    def layer_input(self, index: int, z: torch.Tensor) -> torch.Tensor:
        return z

    def activation(self, index: int, pre: torch.Tensor) -> torch.Tensor:
        scale = pre.detach().abs() + 1.0
        return torch.sin(self.omegas[index] * scale * pre)
