"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), AlexNet
variant, v0.1 linear layers, in plain torch: the distance of two images in [0, 1], lower is more alike.

The network is the AlexNet convolutional trunk; the activations after its five ReLUs are normalised to unit length
over channels, their squared differences weighted per channel by the learned linear layers (1x1 convolutions
without bias), averaged over the image and summed over the five layers.

Weights are only ever read from disk, never downloaded:

* the trunk from torch hub's cache, ``<torch hub dir>/checkpoints/alexnet-owt-*.pth`` (torchvision's key names,
  ``features.0.weight`` ...; the hub dir is ``$TORCH_HOME/hub``),
* the linear layers from the lpips package's ``alex.pth`` (keys ``lin0.model.1.weight`` ...), found in an installed
  lpips package (``lpips/weights/v0.1/alex.pth``) or beside the trunk in the hub cache,
* or both from one file (``--lpips-weights FILE``: a state dict holding both sets of keys, .pth or .safetensors).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import torch
from torch import nn

# AlexNet's convolutions as torchvision numbers them in `features`: (index, in, out, kernel, stride, padding).
# Each is followed by a ReLU, the first two and the last by 3x3 max pooling with stride 2.
ALEXNET_CONVS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
                 (10, 256, 256, 3, 1, 1))
POOLED_AFTER = (0, 1)  # max pooling after the first two taps, before the next convolution
# LPIPS' input scaling (its ScalingLayer): images in [-1, 1] shifted and scaled per channel
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
MIN_SIDE = 32  # smaller images vanish in the trunk's strides and pools


class LpipsWeightsMissing(FileNotFoundError):
    """The LPIPS weights are not on this machine; the message says which file and where it was looked for."""


class LPIPS(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
                                   for _, c_in, c_out, k, s, p in ALEXNET_CONVS)
        self.lins = nn.ModuleList(nn.Conv2d(c_out, 1, 1, bias=False) for _, _, c_out, _, _, _ in ALEXNET_CONVS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The unit-normalised activations after each ReLU of the trunk, for images [N, 3, H, W] in [-1, 1]."""
        x = (images - self.shift) / self.scale
        taps = []
        for layer, conv in enumerate(self.convs):
            if layer - 1 in POOLED_AFTER:
                x = nn.functional.max_pool2d(x, kernel_size=3, stride=2)
            x = torch.relu(conv(x))
            taps.append(x / (x.square().sum(dim=1, keepdim=True).sqrt() + NORM_EPS))
        return taps

    def forward(self, images0: torch.Tensor, images1: torch.Tensor) -> torch.Tensor:
        """LPIPS distance [N] of two image batches [N, 3, H, W] in [-1, 1]."""
        distance = 0.0
        for lin, a, b in zip(self.lins, self.features(images0), self.features(images1)):
            distance = distance + lin((a - b).square()).mean(dim=(1, 2, 3))
        return distance

    def load_standard_state(self, trunk: dict, linear: dict) -> None:
        """Loads torchvision's AlexNet state dict (``features.<i>.weight|bias``; the classifier is not used) and
        the lpips package's linear layers (``lin<k>.model.1.weight``)."""
        state = {}
        for layer, (index, *_rest) in enumerate(ALEXNET_CONVS):
            state[f"convs.{layer}.weight"] = trunk[f"features.{index}.weight"]
            state[f"convs.{layer}.bias"] = trunk[f"features.{index}.bias"]
            state[f"lins.{layer}.weight"] = linear[f"lin{layer}.model.1.weight"]
        self.load_state_dict(state | {"shift": self.shift, "scale": self.scale})


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def linear_weight_candidates() -> list[Path]:
    """Where the lpips package's alex.pth is looked for: an installed lpips package, then the hub cache."""
    candidates = []
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth")
    return candidates + [hub_checkpoints() / "alex.pth"]


def load_lpips(weights: Optional[str | Path] = None, device: str | torch.device = "cpu") -> LPIPS:
    """The LPIPS network in eval mode with its standard weights (from ``weights`` when given, else the usual
    places); raises LpipsWeightsMissing saying what is missing, ValueError when a file is not a weight file."""
    if weights is not None:
        weights = Path(weights)
        if not weights.is_file():
            raise LpipsWeightsMissing(f"--lpips-weights {weights} does not exist")
        trunk = linear = _read_state(weights)
    else:
        trunks = sorted(hub_checkpoints().glob("alexnet-owt-*.pth"))
        if not trunks:
            raise LpipsWeightsMissing(f"no AlexNet weights (alexnet-owt-*.pth) in {hub_checkpoints()}; put "
                                      f"torchvision's file there or pass --lpips-weights")
        linears = [path for path in linear_weight_candidates() if path.is_file()]
        if not linears:
            searched = ", ".join(map(str, linear_weight_candidates()))
            raise LpipsWeightsMissing(f"no LPIPS linear layers (the lpips package's alex.pth) in {searched}; put it "
                                      f"there or pass --lpips-weights")
        trunk, linear = _read_state(trunks[-1]), _read_state(linears[0])
    model = LPIPS()
    try:
        model.load_standard_state(trunk, linear)
    except (KeyError, RuntimeError) as error:  # missing key or wrong shape
        raise ValueError(f"LPIPS weights do not have the standard AlexNet/lpips layout: {error}") from error
    return model.eval().to(device)


def lpips_distance(model: LPIPS, pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean LPIPS distance of RGB images in [0, 1], channels last ([H, W, 3] or [N, H, W, 3])."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape or pred.dim() < 3 or pred.shape[-1] != 3:
        raise ValueError(f"lpips: expected two RGB images of one shape [..., H, W, 3], got {list(pred.shape)} and "
                         f"{list(target.shape)}")
    if min(pred.shape[-3:-1]) < MIN_SIDE:
        raise ValueError(f"lpips: images must be at least {MIN_SIDE}x{MIN_SIDE}, got {list(pred.shape[-3:-1])}")
    device = model.shift.device
    with torch.no_grad():
        return float(model(_network_input(pred, device), _network_input(target, device)).mean())


def _network_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """[..., H, W, 3] in [0, 1] -> [N, 3, H, W] float32 in [-1, 1]."""
    return images.reshape(-1, *images.shape[-3:]).permute(0, 3, 1, 2).float().to(device) * 2.0 - 1.0


def _read_state(path: Path) -> dict:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (any unreadable file: say which, and what to do)
        raise ValueError(f"{path} is not a readable weight file ({type(error).__name__}: {error}); replace it") \
            from error


def lpips_or_reason(weights: Optional[str | Path], device, image_side: int) -> tuple[Optional[LPIPS], Optional[str]]:
    """(model, None) when LPIPS can be measured on images whose shorter side is ``image_side``, else (None, why
    not). Weight files asked for by path must work: their errors are raised."""
    try:
        model = load_lpips(weights, device)
    except (LpipsWeightsMissing, ValueError) as error:
        if weights is not None:
            raise
        return None, str(error)
    if image_side < MIN_SIDE:
        return None, f"the images are smaller than {MIN_SIDE}x{MIN_SIDE}"
    return model, None
