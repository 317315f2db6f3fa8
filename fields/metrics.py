"""Image quality metrics on [0, 1] RGB images, channels last ([H, W, 3] or [N, H, W, 3]).

Conventions (docs/design.md): PSNR over all pixels of the full images; SSIM with the standard 11x11 Gaussian window
(sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, 'valid' filtering), per channel, averaged. LPIPS is in
fields/lpips.py (it needs weight files).
"""
from __future__ import annotations

import math

import torch

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of RGB images in [0, 1] (inf for identical images)."""
    pred, target = _as_rgb_pair(pred, target, "psnr")
    mse = float(((pred - target) ** 2).mean())
    return math.inf if mse == 0.0 else -10.0 * math.log10(mse)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Structural similarity of RGB images in [0, 1]: mean over channels (and images) of the SSIM map."""
    pred, target = _as_rgb_pair(pred, target, "ssim")
    if pred.dim() < 3:
        raise ValueError(f"ssim: expected images [H, W, 3] or [N, H, W, 3], got {list(pred.shape)}")
    height, width = pred.shape[-3], pred.shape[-2]
    if min(height, width) < SSIM_WINDOW:
        raise ValueError(f"ssim: images must be at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {width}x{height}")
    # [..., H, W, 3] -> [images, 3, H, W]: each channel filtered on its own
    x = pred.reshape(-1, height, width, 3).permute(0, 3, 1, 2)
    y = target.reshape(-1, height, width, 3).permute(0, 3, 1, 2)
    blur = _gaussian_filter(x.dtype, x.device)
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def _as_rgb_pair(pred, target, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"{name}: pred and target shapes differ: {list(pred.shape)} vs {list(target.shape)}")
    if pred.shape[-1] != 3 or pred.dim() < 2:
        hint = " (composite RGBA on a background first, e.g. composite_background(rgba, 1.0))" if (
            pred.shape[-1] == 4) else ""
        raise ValueError(f"{name}: expected RGB images with channels last [..., 3], got {list(pred.shape)}{hint}")
    return pred.double(), target.to(pred.device).double()


def _gaussian_filter(dtype: torch.dtype, device: torch.device):
    """Separable, normalised 11-tap Gaussian (sigma 1.5) over the last two dimensions, 'valid' (no padding).

    Written as weighted sums of shifted views: exact in float64 and, on CPU, several times faster than conv2d.
    """
    taps = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - (SSIM_WINDOW - 1) / 2
    kernel = torch.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    kernel = (kernel / kernel.sum()).tolist()
    last = SSIM_WINDOW - 1

    def blur(images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        rows = sum(w * images[..., i : height - last + i, :] for i, w in enumerate(kernel))
        return sum(w * rows[..., i : width - last + i] for i, w in enumerate(kernel))

    return blur
