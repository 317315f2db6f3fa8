import math

import pytest
import torch

from fields.ops import dense_grid_render, dense_grid_render_reference, skip_distances

AABB = [-1.0, -0.5, -1.5, 1.0, 1.0, 0.5]


def random_grid(device, shape=(9, 7, 11), cells=(6, 8, 5), seed=0, empty_fraction=0.5):
    """Vertex values [D, H, W, 4] (random densities and colours) and the skip distances of a random cell mask
    of another resolution."""
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(*shape, 4, generator=g)
    values[..., 0] = values[..., 0] * 12 - 2  # some negative densities: the op treats them as 0
    occupied = torch.rand(*cells, generator=g) >= empty_fraction
    return values.to(device), skip_distances(occupied).to(device)


def random_rays(n, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    origins = torch.rand(n, 3, generator=g) * 6 - 3  # some inside the box, most outside
    targets = torch.rand(n, 3, generator=g) * 2 - 1
    directions = targets - origins
    directions[::5] *= -1  # most rays aim into the box, some away from it
    directions[::9, 1:] = 0.0  # axis-parallel rays
    return origins.to(device), (directions / directions.norm(dim=-1, keepdim=True)).to(device)


def box(device, values=AABB):
    return torch.tensor(values, dtype=torch.float32, device=device)


@pytest.mark.parametrize("min_transmittance", [1e-4, 0.3])
def test_matches_reference(device, min_transmittance):
    values, distance = random_grid(device)
    o, d = random_rays(3000, device)
    out = dense_grid_render(o, d, values, distance, box(device), 0.05, min_transmittance)
    ref = dense_grid_render_reference(o, d, values, distance, box(device), 0.05, min_transmittance)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=2e-5)
    opacity = out[1]
    assert 0.1 < float((opacity == 0).float().mean()) < 0.5  # the sample has misses
    if min_transmittance < 0.1:
        assert float((opacity > 0.99).float().mean()) > 0.1  # and opaque rays
    else:  # early termination lets the rest of the light through
        assert 0.2 < float((opacity > 0.6).float().mean()) and float(opacity.max()) <= 1 - min_transmittance + 0.2


def test_sparse_occupancy_is_crossed_in_jumps_without_missing_a_sample(device):
    """Few occupied cells far apart in a fine mask: the jumps through empty space must land on exactly the samples
    the reference takes (a jump one cell too far would skip some and change the figures)."""
    g = torch.Generator().manual_seed(3)
    values = torch.rand(17, 17, 17, 4, generator=g).to(device)
    values[..., 0] *= 30
    occupied = torch.rand(40, 40, 40, generator=g) > 0.995
    distance = skip_distances(occupied, max_distance=12).to(device)
    assert int(distance.max()) > 5
    o, d = random_rays(3000, device, seed=4)
    out = dense_grid_render(o, d, values, distance, box(device), 0.01)
    ref = dense_grid_render_reference(o, d, values, distance, box(device), 0.01)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=2e-5)
    assert float((out[1] > 0.01).float().mean()) > 0.1


def test_skip_distances_are_chebyshev_distances():
    g = torch.Generator().manual_seed(5)
    occupied = torch.rand(7, 9, 8, generator=g) > 0.97
    distance = skip_distances(occupied, max_distance=4)
    cells = torch.stack(torch.meshgrid(*[torch.arange(n) for n in occupied.shape], indexing="ij"), dim=-1)
    to_occupied = (cells[:, :, :, None] - cells[occupied]).abs().amax(dim=-1).amin(dim=-1)
    assert torch.equal(distance.long(), to_occupied.clamp(max=5))
    assert torch.equal(skip_distances(torch.zeros(3, 3, 3, dtype=torch.bool)), torch.full((3, 3, 3), 17, dtype=torch.uint8))
    with pytest.raises(ValueError, match="max_distance"):
        skip_distances(occupied, max_distance=255)


def test_skipped_cells_are_empty(device):
    values, distance = random_grid(device, empty_fraction=0.0)
    o, d = random_rays(500, device)
    rgb, opacity, depth = dense_grid_render(o, d, values, torch.ones_like(distance), box(device), 0.05)
    assert float(opacity.abs().max()) == 0.0 and float(rgb.abs().max()) == 0.0 and float(depth.abs().max()) == 0.0
    _, opacity, _ = dense_grid_render(o, d, values, distance, box(device), 0.05)
    assert float(opacity.max()) > 0.9


def test_uniform_medium_matches_beer_lambert(device):
    """A constant density sigma along a chord of length L gives opacity 1 - exp(-sigma L) and the grid's colour;
    the depth of a uniform medium is the weighted mean of the sample distances."""
    values = torch.zeros(4, 4, 4, 4, device=device)
    values[..., 0], values[..., 1:] = 0.8, torch.tensor([0.2, 0.5, 0.9], device=device)
    distance = torch.zeros(3, 3, 3, dtype=torch.uint8, device=device)  # every cell counts
    o = torch.tensor([[-3.0, 0.0, 0.0], [0.0, 0.0, 0.0]], device=device)
    d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], device=device)
    step = 0.01
    rgb, opacity, depth = dense_grid_render(o, d, values, distance, box(device, [-1, -1, -1, 1, 1, 1]), step, 0.0)
    chord = torch.tensor([2.0, 1.0], device=device)  # entering at x = -1 / starting inside at the centre
    torch.testing.assert_close(opacity, 1 - torch.exp(-0.8 * chord), atol=1e-5, rtol=0)
    torch.testing.assert_close(rgb, opacity[:, None] * torch.tensor([0.2, 0.5, 0.9], device=device), atol=1e-5,
                               rtol=0)
    near = torch.tensor([2.0, 0.0], device=device)
    t = near[:, None] + (torch.arange(200, device=device) + 0.5) * step
    w = torch.exp(-0.8 * step * torch.arange(200, device=device)) * (1 - math.exp(-0.8 * step))
    w = torch.where(t < (near + chord)[:, None], w, 0.0)
    torch.testing.assert_close(depth, (w * t).sum(dim=1), atol=1e-4, rtol=1e-5)


def test_rays_that_miss_and_zero_directions_see_nothing(device):
    values, distance = random_grid(device, empty_fraction=0.0)
    o = torch.tensor([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], device=device)
    d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], device=device)  # away; zero; behind
    rgb, opacity, depth = dense_grid_render(o, d, values, distance, box(device), 0.05)
    assert opacity.tolist() == [0.0, 0.0, 0.0] and depth.tolist() == [0.0, 0.0, 0.0]
    assert float(rgb.abs().max()) == 0.0


def test_empty_batch(device):
    values, distance = random_grid(device)
    out = dense_grid_render(torch.zeros(0, 3, device=device), torch.zeros(0, 3, device=device), values, distance,
                            box(device), 0.05)
    assert [t.shape for t in out] == [(0, 3), (0,), (0,)]


def test_bad_input_names_the_argument(device):
    values, distance = random_grid(device)
    o, d = random_rays(4, device)
    with pytest.raises(ValueError, match="values"):
        dense_grid_render(o, d, values[..., :3].contiguous(), distance, box(device), 0.05)
    with pytest.raises(ValueError, match="skip_distance"):
        dense_grid_render(o, d, values, distance[0].contiguous(), box(device), 0.05)
    with pytest.raises(TypeError, match="skip_distance"):
        dense_grid_render(o, d, values, distance.bool(), box(device), 0.05)
    with pytest.raises(ValueError, match="step"):
        dense_grid_render(o, d, values, distance, box(device), 0.0)
    with pytest.raises(ValueError, match="aabb"):
        dense_grid_render(o, d, values, distance, box(device, [1, 0, 0, -1, 1, 1]), 0.05)
