"""The FreSh spectrum and distance: pure functions checked on signals with known spectra."""
import math

import numpy as np
import pytest
import torch

from fields.init.spectrum import resize_to_square, spectrum, spectrum_distance


def plane_wave(n: int, kx: int, ky: int, channels: int = 1) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    wave = torch.cos(2 * math.pi * (kx * x + ky * y).double() / n)
    return wave.expand(channels, n, n).clone()


@pytest.mark.parametrize("kx,ky", [(3, 5), (3, -5), (-7, 0), (0, 12)])
def test_sinusoid_peaks_at_its_l1_frequency_whatever_its_direction(kx, ky):
    s = spectrum(plane_wave(64, kx, ky))
    assert len(s) == 64  # bins 1 .. 2 * 32: the DC bin is dropped
    assert np.argmax(s) + 1 == abs(kx) + abs(ky)
    assert s.sum() == pytest.approx(s.max(), rel=1e-4)  # all of the energy in that one bin


def test_volume_sinusoid_peaks_at_its_l1_frequency():
    n = 16
    z, y, x = torch.meshgrid(torch.arange(n), torch.arange(n), torch.arange(n), indexing="ij")
    volume = torch.sin(2 * math.pi * (2 * x - 1 * y + 3 * z).double() / n)[None]
    s = spectrum(volume)
    assert len(s) == 3 * n // 2 and np.argmax(s) + 1 == 6


def test_dc_bin_is_dropped():
    wave = plane_wave(32, 2, 1)
    assert np.allclose(spectrum(wave + 5.0), spectrum(wave))
    assert np.allclose(spectrum(torch.full((3, 32, 32), 0.7)), 0.0)


def test_channel_magnitudes_are_summed_before_the_1d_reduction():
    wave = plane_wave(32, 4, 1)
    both = spectrum(torch.cat([wave, -wave]))  # opposite channels: magnitudes add, they do not cancel
    assert np.allclose(both, 2 * spectrum(wave))
    mixed = torch.cat([plane_wave(32, 4, 1), plane_wave(32, 0, 9)])
    assert np.allclose(spectrum(mixed), spectrum(mixed[:1]) + spectrum(mixed[1:]))


def test_distance_is_zero_for_identical_spectra_and_counts_bins_between_peaks():
    s = spectrum(plane_wave(64, 3, 0))
    assert spectrum_distance(s, s, 64) == 0.0
    assert spectrum_distance(s, 10 * s, 64) == pytest.approx(0.0)  # scale does not matter
    assert spectrum_distance(s, spectrum(plane_wave(64, 7, 0)), 64) == pytest.approx(4.0)


def test_distance_only_sees_the_cropped_bins():
    low, high = spectrum(plane_wave(64, 2, 0)), spectrum(plane_wave(64, 20, 20))
    mix = low + 0.5 * high
    assert spectrum_distance(low, mix, 16) == pytest.approx(0.0)
    assert spectrum_distance(low, mix, 64) > 5.0


def test_resize_to_square_and_rejects_non_square_spectra():
    image = torch.rand(3, 40, 60)
    assert resize_to_square(image, 32).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="square"):
        spectrum(image)
    with pytest.raises(ValueError, match="expected"):
        spectrum(torch.rand(32, 32))
