import math

import numpy as np
import pytest
import torch

from fields.metrics import psnr, ssim


def _images(seed, shape=(23, 29, 3)):
    return torch.from_numpy(np.random.default_rng(seed).random(shape))


def _ssim_numpy(x, y):
    """SSIM written out directly: for every 11x11 window, Gaussian-weighted means, variances and covariance."""
    taps = np.arange(11) - 5
    weights = np.exp(-(taps[:, None] ** 2 + taps[None, :] ** 2) / (2 * 1.5**2))
    weights /= weights.sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for channel in range(x.shape[2]):
        for top in range(x.shape[0] - 10):
            for left in range(x.shape[1] - 10):
                a = x[top : top + 11, left : left + 11, channel]
                b = y[top : top + 11, left : left + 11, channel]
                mean_a, mean_b = (weights * a).sum(), (weights * b).sum()
                var_a = (weights * (a - mean_a) ** 2).sum()
                var_b = (weights * (b - mean_b) ** 2).sum()
                cov = (weights * (a - mean_a) * (b - mean_b)).sum()
                values.append(((2 * mean_a * mean_b + c1) * (2 * cov + c2))
                              / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def test_psnr_values():
    target = _images(0)
    assert psnr(target, target) == math.inf
    assert psnr((target + 0.1), target) == pytest.approx(20.0)
    noisy = (target + 0.05 * _images(1)).clamp(0, 1)
    mse = float(((noisy - target) ** 2).mean())
    assert psnr(noisy, target) == pytest.approx(-10 * math.log10(mse))
    assert psnr(noisy.float().reshape(-1, 3), target.float().reshape(-1, 3)) == pytest.approx(psnr(noisy, target))


def test_ssim_matches_a_direct_implementation():
    target = _images(2)
    for pred in (target, (target + 0.2 * _images(3) - 0.1).clamp(0, 1), _images(4), 1.0 - target):
        assert ssim(pred, target) == pytest.approx(_ssim_numpy(pred.numpy(), target.numpy()), abs=1e-9)
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    assert ssim(_images(4), target) < 0.2


def test_ssim_properties():
    target = _images(5, (2, 16, 16, 3))
    pred = (target + 0.1 * _images(6, (2, 16, 16, 3))).clamp(0, 1)
    assert ssim(pred, target) == pytest.approx(ssim(target, pred))  # symmetric
    per_image = [ssim(pred[i], target[i]) for i in range(2)]
    assert ssim(pred, target) == pytest.approx(np.mean(per_image))  # batch = mean over images
    assert ssim(pred.float(), target.float()) == pytest.approx(ssim(pred, target), abs=1e-6)
    worse = (target + 0.3 * _images(6, (2, 16, 16, 3))).clamp(0, 1)
    assert ssim(worse, target) < ssim(pred, target) < 1.0


def test_bad_inputs():
    rgb, rgba = _images(0), _images(0, (23, 29, 4))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(rgb, rgb[:5])
    with pytest.raises(ValueError, match="composite RGBA on a background first"):
        psnr(rgba, rgba)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(rgb[:8, :8], rgb[:8, :8])
