"""CAM, coordinate-aware modulation (ICLR 2024): per-sample scale and shift of an MLP's hidden layers, read from a
small grid over a low-dimensional modulation coordinate c.

For every modulated layer l:  z_l = act(gamma_l(c) * Norm(h_l) + beta_l(c)), with h_l the layer's pre-activation and
gamma_l, beta_l scalars per sample (broadcast over the channels). gamma starts at 1 and beta at 0, so without Norm
the module starts as the identity. The grid depends on the dimension of c:

* 1-D (time): a line of ``resolution`` values per gamma/beta;
* 2-D (pixel, view direction): a ``resolution = [along c_x, along c_y]`` plane; with ``wrap_x`` the first column is
  repeated after the last, so c_x = -1 and +1 read the same value (azimuth is periodic);
* 3-D (xyz): three planes (xy, xz, yz) of ``resolution^2`` whose samples are *added*. Adding matters: with the
  published product composition and zero-initialised shift planes, every shift plane's gradient is the product of
  the other two (zero), so the shift never learns. Here each gamma plane starts at 1/3 and each beta plane at 0.

Interpolation is (bi)linear with align_corners=True and border clamping (CAM's convention), through the core's
grid-sampling ops (as fast as torch's ``grid_sample`` for these tiny grids on the CPU and point-major, so no
transpose). ``Norm`` is "layer" (per sample over the channels: CAM's image setting, LayerNorm without affine) or
"none" (CAM's NerfAcc settings; also the right choice for sine networks, whose pre-activation scale is their
frequency). The grids train at :data:`CAM_LR_SCALE` times the network's learning rate (:func:`split_cam_groups`).
"""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from fields.models.quantize import check_bits, fake_quantize
from fields.ops.grid_sample import grid_sample_2d, triplane_sample

CAM_LR_SCALE = 10.0
NORMS = ("layer", "none")
OPTION_NAMES = ("resolution", "layers", "norm")


class CoordinateModulation(nn.Module):
    def __init__(self, coord_dim: int, layers: Sequence[int], resolution: Union[int, Sequence[int]],
                 norm: str = "layer", wrap_x: bool = False, quantize_bits: int = 0):
        """``layers``: indices (in the owner's numbering) of the hidden layers to modulate."""
        super().__init__()
        if coord_dim not in (1, 2, 3):
            raise ValueError(f"CAM modulates by a 1-, 2- or 3-D coordinate, got {coord_dim}-D")
        if norm not in NORMS:
            raise ValueError(f"CAM norm must be one of {', '.join(NORMS)}, got {norm!r}")
        resolution = [int(r) for r in (resolution if isinstance(resolution, (list, tuple)) else [resolution])]
        if len(resolution) == 1:
            resolution = resolution * coord_dim  # one value: the same resolution along every axis
        if len(resolution) != coord_dim or min(resolution) < 2:
            raise ValueError(f"CAM resolution needs {coord_dim} value(s) >= 2 for a {coord_dim}-D coordinate, "
                             f"got {resolution}")
        if coord_dim == 3 and len(set(resolution)) != 1:
            raise ValueError(f"the 3-D (tri-plane) CAM grid has one resolution for all axes, got {resolution}")
        self.coord_dim, self.norm, self.wrap_x = coord_dim, norm, wrap_x
        self.quantize_bits = check_bits(quantize_bits)
        self.slots = {int(layer): k for k, layer in enumerate(layers)}
        n = len(self.slots)
        if coord_dim == 3:
            r = resolution[0]
            grid = torch.cat([torch.full((3, n, r, r), 1.0 / 3.0), torch.zeros(3, n, r, r)], dim=1)
        else:
            height = resolution[1] if coord_dim == 2 else 1
            grid = torch.cat([torch.ones(n, height, resolution[0]), torch.zeros(n, height, resolution[0])])
        self.grid = nn.Parameter(grid)  # channels: gamma of each slot, then beta of each slot

    def quantized_parameters(self) -> list[nn.Parameter]:
        return [self.grid] if self.quantize_bits else []

    def modulates(self, layer: int) -> bool:
        return layer in self.slots

    def sample(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c [N, coord_dim] in [-1, 1] -> (gamma, beta), each [N, number of modulated layers]."""
        if coords is None or coords.shape[-1] != self.coord_dim:
            got = "none" if coords is None else f"{coords.shape[-1]}-D"
            raise ValueError(f"this CAM needs a {self.coord_dim}-D modulation coordinate per sample, got {got}")
        grid = fake_quantize(self.grid, self.quantize_bits)
        coords = coords.contiguous()
        if self.coord_dim == 3:
            values = triplane_sample(grid, coords, True, "sum")
        else:
            if self.wrap_x:
                grid = torch.cat([grid, grid[..., :1]], dim=-1)
            if self.coord_dim == 1:
                coords = torch.cat([coords, torch.zeros_like(coords)], dim=-1)
            values = grid_sample_2d(grid.contiguous(), coords, True)
        return values.chunk(2, dim=-1)

    def forward(self, layer: int, pre: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """gamma * Norm(pre) + beta for hidden layer ``layer`` (pre-activations [N, C])."""
        slot = self.slots[layer]
        if self.norm == "layer":
            pre = F.layer_norm(pre, pre.shape[-1:])
        return gamma[:, slot:slot + 1] * pre + beta[:, slot:slot + 1]


def build_cam(options: Optional[dict], coord_dim: int, n_hidden: int, defaults: dict, wrap_x: bool = False,
              quantize_bits: int = 0) -> Optional[CoordinateModulation]:
    """A CAM from a JSON-able ``options`` dict {"resolution", "layers": "all" | [indices], "norm"} (missing keys
    from ``defaults``) for an MLP with ``n_hidden`` hidden layers; None when ``options`` is None."""
    if options is None:
        return None
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise ValueError(f"CAM has no option(s) {', '.join(sorted(unknown))}; its options: {', '.join(OPTION_NAMES)}")
    options = {**defaults, **options}
    layers = list(range(n_hidden)) if options.get("layers", "all") == "all" else [int(i) for i in options["layers"]]
    if not layers or any(not 0 <= i < n_hidden for i in layers):
        raise ValueError(f"CAM layers must be 'all' or indices in [0, {n_hidden}), got {options.get('layers')}")
    return CoordinateModulation(coord_dim, layers, options["resolution"], options.get("norm", "layer"), wrap_x,
                                quantize_bits)


def direction_coordinates(directions: torch.Tensor) -> torch.Tensor:
    """Unit view directions [N, 3] -> (azimuth / pi, elevation / (pi/2)) in [-1, 1]^2, CAM's spherical view
    coordinate (azimuth is periodic: use ``wrap_x``)."""
    azimuth = torch.atan2(directions[:, 1], directions[:, 0]) / math.pi
    elevation = torch.asin(directions[:, 2].clamp(-1.0, 1.0)) / (math.pi / 2)
    return torch.stack([azimuth, elevation], dim=-1)


def split_cam_groups(module: nn.Module, params: Sequence[nn.Parameter], lr: float) -> list[dict]:
    """Optimiser groups for ``params`` (parameters of ``module``): the CAM grids among them at CAM_LR_SCALE x lr in
    their own group named "cam", the rest at lr. Empty groups are left out."""
    cam_ids = {id(p) for m in module.modules() if isinstance(m, CoordinateModulation) for p in m.parameters()}
    rest = [p for p in params if id(p) not in cam_ids]
    grids = [p for p in params if id(p) in cam_ids]
    groups = [{"params": rest, "lr": lr}] if rest else []
    return groups + ([{"params": grids, "lr": lr * CAM_LR_SCALE, "name": "cam"}] if grids else [])
