import pytest
import torch

from fields.ops import grid_sample
from fields.ops.grid_sample import REDUCE_MODES, grid_sample_2d, grid_sample_3d, triplane_sample

# (native, reference, grid shape without batch, coordinate dims). Sizes differ per axis so a swapped axis shows.
def twins(name, *args):
    """The native op ``name`` and its ``*_reference``, each called as ``op(grid, coords, align_corners, *args)``."""
    native, reference = getattr(grid_sample, name), getattr(grid_sample, name + "_reference")
    return lambda g, c, a: native(g, c, a, *args), lambda g, c, a: reference(g, c, a, *args)


OPS = {
    "2d": (*twins("grid_sample_2d"), (5, 6, 9), 2),
    "3d": (*twins("grid_sample_3d"), (4, 5, 6, 7), 3),
    **{f"triplane-{reduce}": (*twins("triplane_sample", reduce), (3, 4, 6, 9), 3) for reduce in REDUCE_MODES},
}


def random_inputs(grid_shape, coord_dims, n, batch, device, spread=1.3, seed=0):
    """A random grid and random coordinates in [-spread, spread] (spread > 1 exercises border clamping)."""
    g = torch.Generator().manual_seed(seed)
    lead = (batch,) if batch else ()
    grid = torch.randn(*lead, *grid_shape, generator=g)
    coords = (torch.rand(*lead, n, coord_dims, generator=g) * 2 - 1) * spread
    return grid.to(device), coords.to(device)


def compare_with_reference(op, grid, coords, align_corners, grad_tol=1e-4, grid_tol=1e-5):
    """Values and both gradients of the native op against the reference, for the same random output gradient."""
    native, reference = OPS[op][:2]
    results = []
    for fn in (native, reference):
        g = grid.detach().clone().requires_grad_(True)
        c = coords.detach().clone().requires_grad_(True)
        out = fn(g, c, align_corners)
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.device)
        out.backward(grad_out)
        results.append((out.detach(), g.grad, c.grad))
    (out, grad_grid, grad_coords), (ref, ref_grad_grid, ref_grad_coords) = results
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_grid, ref_grad_grid, rtol=grid_tol, atol=grid_tol)
    torch.testing.assert_close(grad_coords, ref_grad_coords, rtol=grad_tol, atol=grad_tol)
    return out


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("batch", [3, None], ids=["batched", "unbatched"])
def test_values_and_gradients_match_reference(device, op, align_corners, batch):
    grid, coords = random_inputs(OPS[op][2], OPS[op][3], 300, batch, device)
    compare_with_reference(op, grid, coords, align_corners)


@pytest.mark.parametrize("op", list(OPS))
def test_many_points_on_a_tiny_grid(device, op):
    # Thousands of points scatter into the same few texels: the feature-gradient accumulation must not lose any.
    grid_shape = OPS[op][2][:-2] + (2, 3)
    grid, coords = random_inputs(grid_shape, OPS[op][3], 5000, 2, device, spread=1.0)
    # ~1000 terms per texel summed in another order (CUDA atomics): float rounding reaches a few 1e-5.
    compare_with_reference(op, grid, coords, align_corners=False, grid_tol=1e-4)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("align_corners", [True, False])
def test_far_outside_coordinates_clamp_to_the_border(device, op, align_corners):
    grid, coords = random_inputs(OPS[op][2], OPS[op][3], 64, 2, device)
    coords = torch.sign(coords) * torch.tensor([1.0 + 1e-6, 1.5, 40.0, 1e30], device=device).repeat(16)[:, None]
    compare_with_reference(op, grid, coords, align_corners)
    # Fully outside in every coordinate: the gradient with respect to the coordinates is exactly zero.
    c = coords.clone().requires_grad_(True)
    OPS[op][0](grid, c, align_corners).sum().backward()
    assert torch.all(c.grad == 0)


def texel_positions(size, align_corners, where):
    """Normalised coordinates of texel centres, or of the edges between texels (plus -1 and +1), along one axis."""
    if where == "centres":
        index = torch.arange(size, dtype=torch.float32)
    else:
        index = torch.arange(size + 1, dtype=torch.float32) - 0.5
    if align_corners:
        return index * (2.0 / (size - 1)) - 1.0
    return (2 * index + 1) / size - 1.0


def texel_grid_shape(op, sizes):
    """Grid shape (no batch) with `sizes` texels along x, y, z; tri-planes are square so y fits both H and W."""
    if op == "2d":
        return (2, sizes[1], sizes[0]), sizes[:2]
    if op == "3d":
        return (2, sizes[2], sizes[1], sizes[0]), sizes
    return (3, 2, sizes[0], sizes[0]), [sizes[0]] * 3


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("where", ["centres", "edges"])
def test_coordinates_exactly_on_texel_centres_and_edges(device, op, align_corners, where):
    # Power-of-two texel spacings make every coordinate and its texel position exact in fp32, so the kernel and
    # torch must pick the same cell at the kinks of the interpolant (and agree that the border is clamped).
    sizes = [9, 5, 3] if align_corners else [8, 4, 2]
    grid_shape, axis_sizes = texel_grid_shape(op, sizes)
    grid, _ = random_inputs(grid_shape, OPS[op][3], 1, 2, device)
    axes = [texel_positions(size, align_corners, where) for size in axis_sizes]
    coords = torch.cartesian_prod(*axes).to(device)
    coords = torch.stack([coords, coords.flip(0)])  # two batch elements
    compare_with_reference(op, grid, coords, align_corners)


@pytest.mark.parametrize("align_corners", [True, False])
def test_texel_centres_return_the_texel_values(device, align_corners):
    # Independent of the reference: sampling at a texel centre returns that texel exactly.
    size = 9 if align_corners else 8  # exact texel spacings in fp32
    features = torch.randn(1, 4, size, size, device=device)
    axis = texel_positions(size, align_corners, "centres")
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    coords = torch.stack([x, y], dim=-1).reshape(1, -1, 2).to(device)
    out = grid_sample_2d(features, coords, align_corners)
    torch.testing.assert_close(out, features.flatten(2).transpose(1, 2), rtol=0, atol=0)


def test_triplane_planes_are_sampled_at_xy_xz_yz(device):
    # Each plane varies along one of its axes only; concat exposes which point coordinate each plane saw.
    ramp = torch.linspace(0, 1, 16, device=device)
    planes = torch.stack([ramp.expand(16, 16), ramp[:, None].expand(16, 16), ramp[:, None].expand(16, 16)])
    planes = planes[:, None]  # [3, 1, H, W]: plane 0 ramps along W (x), planes 1 and 2 along H (z)
    coords = torch.tensor([[-1.0, 0.0, 1.0], [1.0, -1.0, -1.0]], device=device)
    out = triplane_sample(planes, coords, align_corners=True, reduce="concat")
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], device=device))


@pytest.mark.parametrize("op", list(OPS))
def test_gradient_only_for_the_grid(device, op):
    native, reference, grid_shape, dims = OPS[op]
    grid, coords = random_inputs(grid_shape, dims, 50, 2, device)
    grid = grid.requires_grad_(True)
    native(grid, coords, True).square().sum().backward()
    expected = torch.autograd.grad(reference(grid, coords, True).square().sum(), grid)[0]
    torch.testing.assert_close(grid.grad, expected, rtol=1e-5, atol=1e-5)
    assert coords.grad is None


def test_backward_op_returns_none_for_gradients_not_asked_for(device):
    features, coords = random_inputs((2, 4, 4), 2, 10, 1, device)
    grad_out = torch.ones(1, 10, 2, device=device)
    only_coords = torch.ops.fields.grid_sample_2d_backward(features, coords, grad_out, True, False, True)
    assert only_coords[0] is None and only_coords[1].shape == coords.shape


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("batch", [2, None], ids=["batched", "unbatched"])
def test_empty_batch(device, op, batch):
    native, reference, grid_shape, dims = OPS[op]
    grid, coords = random_inputs(grid_shape, dims, 0, batch, device)
    grid.requires_grad_(True)
    coords.requires_grad_(True)
    out = native(grid, coords, False)
    assert out.shape == reference(grid, coords, False).shape
    out.sum().backward()
    assert torch.all(grid.grad == 0) and coords.grad.shape == coords.shape


def test_bad_input_names_the_argument(device):
    features = torch.zeros(2, 3, 4, 4, device=device)
    coords = torch.zeros(2, 5, 2, device=device)
    with pytest.raises(TypeError, match="features"):
        grid_sample_2d(features.double(), coords, True)
    with pytest.raises(TypeError, match="coords"):
        grid_sample_2d(features, coords.double(), True)
    with pytest.raises(ValueError, match="coords"):
        grid_sample_2d(features, torch.zeros(3, 5, 2, device=device), True)  # batch sizes differ
    with pytest.raises(ValueError, match="coords"):
        grid_sample_2d(features, torch.zeros(2, 5, 3, device=device), True)  # 3-D coordinates for a 2-D grid
    with pytest.raises(ValueError, match="'features' must be contiguous"):
        grid_sample_2d(features.transpose(2, 3), coords, True)
    with pytest.raises(ValueError, match="'coords' must be contiguous"):
        grid_sample_2d(features, torch.zeros(2, 2, 5, device=device).transpose(1, 2), True)
    with pytest.raises(ValueError, match="features"):
        grid_sample_2d(torch.zeros(2, 3, 0, 4, device=device), coords, True)
    other = "meta" if device.type == "cpu" else "cpu"
    with pytest.raises(ValueError, match="'coords' is on"):
        grid_sample_2d(features, coords.to(other), True)


def test_bad_input_names_the_argument_3d_and_triplane(device):
    volume = torch.zeros(2, 3, 4, 4, 4, device=device)
    planes = torch.zeros(2, 3, 3, 4, 4, device=device)
    coords = torch.zeros(2, 5, 3, device=device)
    with pytest.raises(ValueError, match="features"):
        grid_sample_3d(volume[:, :, 0], coords, True)
    with pytest.raises(ValueError, match="coords"):
        grid_sample_3d(volume, coords[:1], True)
    with pytest.raises(TypeError, match="planes"):
        triplane_sample(planes.half(), coords, True)
    with pytest.raises(ValueError, match="planes"):
        triplane_sample(torch.zeros(2, 2, 3, 4, 4, device=device), coords, True)  # two planes, not three
    with pytest.raises(ValueError, match="coords"):
        triplane_sample(planes, coords[..., :2].contiguous(), True)
    with pytest.raises(ValueError, match="reduce"):
        triplane_sample(planes, coords, True, reduce="mean")
    other = "meta" if device.type == "cpu" else "cpu"
    with pytest.raises(ValueError, match="'coords' is on"):
        triplane_sample(planes, coords.to(other), True)
