"""The automatic density threshold for meshing a radiance field, and a readable summary of the density histogram.

A fixed density threshold (instant-ngp's 2.5, threestudio's automatic guess) means different surfaces in different
fields, and a bad guess gives blobs or holes. Here the threshold is chosen so that the mesh sits where the field's own
renders put the surface: along every grid line through the volume (both directions of all three axes) the optical
depth is accumulated from outside, and where a line first reaches 50 % opacity (optical depth ln 2, the median of
the rendered depth distribution) the density is read off, interpolated between samples. The threshold is the median
of these densities over all lines that become opaque. Marching cubes at that level then crosses each such line close
to where a ray along it would report the surface. When the occupancy grid is given to the exporter, the density in
the cells it marks empty is zero here as it is for the renderer, so faint haze in empty space does not count
either.
"""
import math

import numpy as np

HALF_OPACITY = math.log(2.0)  # optical depth at which transmittance is 1/2


def automatic_density_threshold(volume: np.ndarray, spacing: float, slab: int = 32) -> float | None:
    """The median density at the 50 %-opacity crossings of all axis-aligned lines of ``volume`` (densities, any
    padding included); None when no line becomes half opaque. Works on slabs of ``slab`` lines at a time to keep the
    temporaries small."""
    crossings = []
    for axis in range(3):
        moved = np.moveaxis(volume, axis, -1)  # a view: lines run along the last axis
        for first in range(0, moved.shape[0], slab):
            lines = moved[first:first + slab].reshape(-1, moved.shape[-1])
            for ordered in (lines, lines[:, ::-1]):
                crossings.append(_half_opacity_density(ordered, spacing))
    crossings = np.concatenate(crossings)
    return float(np.median(crossings)) if crossings.size else None


def _half_opacity_density(lines: np.ndarray, spacing: float) -> np.ndarray:
    """Densities where lines [L, N] (sampled every ``spacing``, entered at index 0) first reach optical depth ln 2,
    with the density taken as linear between samples; only lines that get there."""
    lines = lines[lines.sum(axis=1, dtype=np.float64) * spacing >= HALF_OPACITY]  # (a bound on the total depth)
    sigma = lines.astype(np.float64)
    segment = 0.5 * (sigma[:, 1:] + sigma[:, :-1]) * spacing  # trapezoid optical depth of each segment
    depth = np.cumsum(segment, axis=1)
    reached = depth[:, -1] >= HALF_OPACITY
    if not reached.any():  # also when no line was a candidate
        return np.zeros(0)
    sigma, segment, depth = sigma[reached], segment[reached], depth[reached]
    k = np.argmax(depth >= HALF_OPACITY, axis=1)  # the segment [k, k+1] where ln 2 is reached
    rows = np.arange(len(k))
    before = depth[rows, k] - segment[rows, k]
    s0, s1 = sigma[rows, k], sigma[rows, k + 1]
    # Optical depth into the segment, density linear from s0 to s1: spacing * (s0 f + (s1 - s0) f^2 / 2).
    # Solve for the fraction f where it equals the remaining ln 2 - before.
    remaining = (HALF_OPACITY - before) / spacing
    slope = s1 - s0
    with np.errstate(divide="ignore", invalid="ignore"):
        quadratic = (-s0 + np.sqrt(np.maximum(s0 * s0 + 2.0 * slope * remaining, 0.0))) / slope
    linear = remaining / np.maximum(s0, 1e-12)
    fraction = np.where(np.abs(slope) > 1e-9 * np.maximum(np.abs(s0), 1.0), quadratic, linear)
    fraction = np.clip(np.nan_to_num(fraction, nan=1.0), 0.0, 1.0)
    return s0 + fraction * slope


def density_summary(volume: np.ndarray) -> str:
    """Percentiles of the non-negligible densities of a volume, for error messages that suggest a threshold."""
    peak = float(volume.max())
    values = volume[volume > 1e-3 * peak] if peak > 0 else volume[:0]
    if values.size == 0:
        return f"the density is {peak:.3g} or less everywhere in the box"
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return (f"density in the box: max {peak:.4g}; over the {values.size} samples above 0.1 % of the max: "
            f"median {p50:.4g}, 90th percentile {p90:.4g}, 99th percentile {p99:.4g}")
