"""The final evaluation's default size for captures: whole views on a GPU and for small images, downscaled on the
CPU so that evaluating a phone-sized capture stays a small part of a run (NeRF-synthetic scenes are always evaluated
at full size: the trainer does not ask)."""
import torch

from fields.run import evaluation_downscale

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_small_views_are_evaluated_whole():
    assert evaluation_downscale(400, 400, CPU) == 1 and evaluation_downscale(640, 480, CPU) == 1


def test_large_views_on_the_cpu_are_downscaled_to_half_a_megapixel():
    assert evaluation_downscale(540, 960, CPU) == 2  # a 1080x1920 photo trained at downscale 2
    assert evaluation_downscale(1920, 1080, CPU) == 3
    for width, height in ((540, 960), (1920, 1080), (4032, 3024)):
        factor = evaluation_downscale(width, height, CPU)
        assert (width // factor) * (height // factor) <= 500_000 < (width // (factor - 1)) * (height // (factor - 1)) \
            or factor == 1


def test_a_gpu_evaluates_whole_views():
    assert evaluation_downscale(4032, 3024, GPU) == 1
