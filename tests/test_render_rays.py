"""render_rays skips the field where compositing drops the sample, and renders (and trains) exactly as if it had not."""
import pytest
import torch

from fields.models import make_field
from fields.render import OccupancyGrid
from fields.render.volume import render_rays, render_rays_reference

AABB = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
STEP = 0.02


SMALL_GRID = dict(n_levels=4, log2_hashmap_size=12, finest_resolution=64)


def opaque_scene(device, field_type="hash"):
    """A field dense enough that most rays terminate early, an all-occupied grid and rays through the box."""
    torch.manual_seed(0)
    options = SMALL_GRID if field_type in ("hash", "rbf") else {}
    field = make_field("radiance", field_type, aabb=AABB, density_bias=4.0, **options).to(device)
    grid = OccupancyGrid(AABB, resolution=16).to(device)
    grid.mark_all_occupied()
    g = torch.Generator().manual_seed(1)
    origins = torch.tensor([0.0, 0.0, -3.0]) + 0.3 * torch.randn(64, 3, generator=g)
    directions = torch.nn.functional.normalize(-origins + 0.2 * torch.randn(64, 3, generator=g), dim=-1)
    return field, grid, origins.to(device), directions.to(device), torch.rand(64, 3, generator=g).to(device)


# hash and rbf reuse the density pass's grid encoding for the kept samples; mlp has no encoder to reuse.
@pytest.mark.parametrize("field_type", ["hash", "rbf", "mlp"])
@pytest.mark.parametrize("with_grad", [True, False])
def test_matches_rendering_every_sample(device, with_grad, field_type):
    field, grid, origins, directions, background = opaque_scene(device, field_type)
    with torch.set_grad_enabled(with_grad):
        ours = render_rays(field, grid, origins, directions, background, render_step_size=STEP)
        expected_rgb, expected_depth = render_rays_reference(field, grid, origins, directions, background,
                                                              render_step_size=STEP)
    assert ours.n_samples < ours.n_marched / 2  # most samples lie behind the termination point here
    torch.testing.assert_close(ours.rgb, expected_rgb, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.depth, expected_depth, rtol=1e-5, atol=1e-6)
    if with_grad:
        ours_grads = torch.autograd.grad(ours.rgb.square().sum(), list(field.parameters()))
        expected_grads = torch.autograd.grad(expected_rgb.square().sum(), list(field.parameters()))
        for ours_grad, expected_grad in zip(ours_grads, expected_grads):
            torch.testing.assert_close(ours_grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_nan_density_reaches_the_finite_check(device):
    # The skipping pass must not hide a NaN from the trainer's check: a NaN density is opaque, so it is kept.
    field, grid, origins, directions, background = opaque_scene(device)
    density = field.density
    field.density = lambda x, encoded=None: (density(x, encoded)[0] * float("nan"), density(x, encoded)[1])
    out = render_rays(field, grid, origins, directions, background, render_step_size=STEP, check_finite=True)
    assert out.n_samples > 0 and not torch.isfinite(out.field_sum)
