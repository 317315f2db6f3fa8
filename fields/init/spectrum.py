"""Spectra for FreSh (docs/methods.md, "FreSh"): a signal's DFT magnitudes reduced to one dimension, and the
Wasserstein distance between two such spectra.

A signal is a tensor [C, n_1, ..., n_D] (D = 2 for images and rendered views, 3 for volumes) on a square / cubic
grid. Its 1-D spectrum S[s] is the sum of |DFT| over channels and over every frequency k (in cycles per grid side,
k_i in [-n/2, n/2)) with |k_1| + ... + |k_D| = s, with the DC bin s = 0 dropped (the output bias fits it trivially).

FreSh's code sums anti-diagonals of the unshifted half-plane DFT. On the quadrant where k_x and k_y share a sign
that is exactly this L1-radius binning; the mixed-sign quadrants it places in bins n/2 .. n, outside the crop
whenever the crop is below n/2 (for SIREN's 64 bins: sides above 128; re-running the selection with FreSh's own
binning gave the same SIREN pick in 15 of 16 cases at 256^2 and 14 of 16 at 96^2, BENCHMARKS.md).
Here every direction counts towards its L1 radius, so a stripe pattern peaks at |k_x| + |k_y| whatever its
orientation; conjugate frequencies (k, -k) land in the same bin, so no half-plane mask is needed.
"""
import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import wasserstein_distance


def resize_to_square(signal: torch.Tensor, side: int) -> torch.Tensor:
    """[C, n_1, ..., n_D] -> [C, side, ..., side], antialiased when shrinking (D = 2 or 3)."""
    spatial = signal.shape[1:]
    if all(n == side for n in spatial):
        return signal
    mode = {2: "bilinear", 3: "trilinear"}[len(spatial)]
    shrinking = len(spatial) == 2 and min(spatial) > side  # torch antialiases bilinear (2-D) resizes only
    return F.interpolate(signal[None].float(), size=(side,) * len(spatial), mode=mode, align_corners=False,
                         antialias=shrinking)[0]


def spectrum(signal: torch.Tensor) -> np.ndarray:
    """[C, n, ..., n] signal -> float64 1-D spectrum, bins s = 1 .. D * (n // 2) (DC dropped)."""
    if signal.ndim not in (3, 4):
        raise ValueError(f"spectrum: expected a [C, n, n] or [C, n, n, n] signal, got shape {list(signal.shape)}")
    spatial = signal.shape[1:]
    if len(set(spatial)) != 1:
        raise ValueError(f"spectrum: the grid must be square/cubic (resize_to_square first), got {list(spatial)}")
    dims = tuple(range(1, signal.ndim))
    magnitude = torch.fft.fftn(signal.double(), dim=dims).abs().sum(dim=0)  # channels summed before binning
    n = spatial[0]
    k = (torch.fft.fftfreq(n, d=1.0 / n).abs()).round().long()
    radius = sum(k.view([-1 if axis == i else 1 for axis in range(len(spatial))]) for i in range(len(spatial)))
    radius = radius.expand(magnitude.shape).reshape(-1)
    bins = torch.bincount(radius, weights=magnitude.reshape(-1), minlength=len(spatial) * (n // 2) + 1)
    return bins[1:].numpy()


def spectrum_distance(target: np.ndarray, output: np.ndarray, crop: int) -> float:
    """1-D Wasserstein-1 distance (in bins) between the first ``crop`` bins of two spectra, each treated as a
    histogram over bin indices (scipy normalises the weights, so the overall scale does not matter)."""
    crop = min(crop, len(target), len(output))
    t, o = np.asarray(target[:crop], dtype=np.float64), np.asarray(output[:crop], dtype=np.float64)
    if t.sum() <= 0 or o.sum() <= 0:  # a constant signal has no spectrum to compare
        return float("inf")
    positions = np.arange(crop)
    return float(wasserstein_distance(positions, positions, u_weights=t, v_weights=o))
