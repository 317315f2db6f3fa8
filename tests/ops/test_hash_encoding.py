import pytest
import torch

from fields.encodings import HashEncoding
from fields.encodings.hash_encoding import level_resolutions
from fields.ops import hash_encode, hash_encode_reference, hash_encode_reusing
from fields.ops.hash_encoding import HASH_PRIMES


def random_grid(dims, n_levels, features, log2_size, base, finest, device, seed=0):
    """A small HashEncoding's tables filled with O(1) values, so interpolation and gradient errors are visible."""
    torch.manual_seed(seed)
    encoding = HashEncoding(dims, n_levels, features, log2_size, base, finest)
    embeddings = torch.empty_like(encoding.embeddings).uniform_(-1, 1).to(device)
    return embeddings, encoding.level_offsets, encoding.resolutions


def level_kinds(level_offsets, resolutions, dims):
    sizes = (level_offsets[1:] - level_offsets[:-1]).tolist()
    return ["dense" if (r + 1) ** dims <= s else "hashed" for r, s in zip(resolutions.tolist(), sizes)]


def assert_same_values_then_backward(out, ref):
    """Native and reference outputs agree; then the same random upstream gradient flows back through both."""
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    (ref * grad_out).sum().backward()


# (dims, levels, features, log2 table size, base, finest): each mixes dense coarse levels and hashed fine ones.
GRIDS = [(3, 6, 2, 12, 4, 64), (2, 6, 2, 12, 4, 256), (3, 4, 4, 13, 8, 128), (2, 5, 1, 14, 16, 512),
         (3, 3, 8, 12, 2, 32)]


@pytest.mark.parametrize("grid", GRIDS)
def test_values_and_gradients_match_reference(device, grid):
    dims, n_levels, features, log2_size, base, finest = grid
    embeddings, offsets, resolutions = random_grid(*grid, device)
    assert {"dense", "hashed"} <= set(level_kinds(offsets, resolutions, dims))
    x = torch.rand(2000, dims, device=device).requires_grad_(True)
    emb = embeddings.clone().requires_grad_(True)
    x_ref, emb_ref = x.detach().clone().requires_grad_(True), embeddings.clone().requires_grad_(True)

    out = hash_encode(x, emb, offsets, resolutions)
    ref = hash_encode_reference(x_ref, emb_ref, offsets, resolutions)
    assert out.shape == (2000, n_levels * features)
    assert_same_values_then_backward(out, ref)
    torch.testing.assert_close(emb.grad, emb_ref.grad, rtol=1e-4, atol=1e-5)
    # d/dx scales with the finest resolution: compare relative to the gradient's size.
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-4 * x_ref.grad.abs().max().item())


@pytest.mark.parametrize("features", [2, 4, 8])
def test_tables_and_gradients_that_start_mid_row_alignment(device, features):
    """The CUDA kernels read rows with vector loads; views whose data starts one float into a row are copied."""
    embeddings, offsets, resolutions = random_grid(3, 4, features, 12, 4, 64, device)
    shifted_table = torch.empty(embeddings.numel() + 1, device=device)[1:].view_as(embeddings)
    shifted_table.copy_(embeddings)
    x = torch.rand(300, 3, device=device)
    out = hash_encode(x, shifted_table.requires_grad_(True), offsets, resolutions)
    torch.testing.assert_close(out, hash_encode_reference(x, embeddings, offsets, resolutions), rtol=1e-5, atol=1e-5)
    grad_out = torch.randn_like(out)
    shifted_grad = torch.empty(grad_out.numel() + 1, device=device)[1:].view_as(grad_out).copy_(grad_out)
    out.backward(shifted_grad)
    emb_ref = embeddings.clone().requires_grad_(True)
    hash_encode_reference(x, emb_ref, offsets, resolutions).backward(grad_out)
    torch.testing.assert_close(shifted_table.grad, emb_ref.grad, rtol=1e-4, atol=1e-5)


def test_reusing_an_earlier_encoding_gives_the_same_values_and_gradients(device):
    """hash_encode_reusing returns a no-grad encoding of a subset of points with the op's backward attached."""
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    points = torch.rand(800, 3, device=device)
    with torch.no_grad():
        encoded = hash_encode(points, embeddings, offsets, resolutions)
    subset = torch.randperm(800, device=device)[:300]
    x, x_ref = points[subset].requires_grad_(True), points[subset].requires_grad_(True)
    emb, emb_ref = embeddings.clone().requires_grad_(True), embeddings.clone().requires_grad_(True)
    out = hash_encode_reusing(x, emb, offsets, resolutions, encoded[subset])
    ref = hash_encode_reference(x_ref, emb_ref, offsets, resolutions)
    assert_same_values_then_backward(out, ref)
    torch.testing.assert_close(emb.grad, emb_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-4 * x_ref.grad.abs().max().item())
    with pytest.raises(ValueError, match="no-grad encoding of x"):
        hash_encode_reusing(x, emb, offsets, resolutions, encoded)  # 800 rows for 300 points


def test_embedding_gradient_without_x_gradient(device):
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    x = torch.rand(500, 3, device=device)
    emb = embeddings.clone().requires_grad_(True)
    emb_ref = embeddings.clone().requires_grad_(True)
    hash_encode(x, emb, offsets, resolutions).sum().backward()
    hash_encode_reference(x, emb_ref, offsets, resolutions).sum().backward()
    torch.testing.assert_close(emb.grad, emb_ref.grad, rtol=1e-4, atol=1e-5)


def test_boundary_and_outside_points_are_clamped(device):
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    inside = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.5], [1.0, 0.25, 0.0]], device=device)
    outside = torch.tensor([[-0.5, -1e-3, -3.0], [1.5, 1 + 1e-3, 7.0], [-2.0, 2.0, 0.5], [1e30, 0.25, -1e30]],
                           device=device)
    clamped = outside.clamp(0, 1)
    torch.testing.assert_close(hash_encode(outside, embeddings, offsets, resolutions),
                               hash_encode(clamped, embeddings, offsets, resolutions))
    x = torch.cat([inside, outside]).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    out = hash_encode(x, embeddings, offsets, resolutions)
    ref = hash_encode_reference(x_ref, embeddings, offsets, resolutions)
    assert_same_values_then_backward(out, ref)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-3)
    # Coordinates outside [0, 1] are clamped: no gradient flows to them.
    outside_mask = (x.detach() < 0) | (x.detach() > 1)
    assert outside_mask.any() and torch.all(x.grad[outside_mask] == 0)


def test_dense_level_interpolates_linear_functions_exactly(device):
    # Pins the vertex convention independently of the reference: with vertex v of a dense level at x = v / res,
    # tables holding a linear function of the vertex position reproduce that function everywhere in [0, 1]^D.
    res, dims = 8, 3
    vertices = torch.stack(torch.meshgrid(*[torch.arange(res + 1)] * dims, indexing="ij"), -1).flip(-1)
    vertices = vertices.reshape(-1, dims).float() / res  # dense row order: axis 0 fastest
    coefficients = torch.tensor([0.3, -1.2, 2.0])
    table = (vertices @ coefficients + 0.5)[:, None].to(device)
    offsets = torch.tensor([0, table.shape[0]])
    x = torch.rand(300, dims, device=device)
    x[:4] = torch.tensor([[0.0, 0, 0], [1, 1, 1], [0.5, 0.125, 1], [1, 0, 0.999]])
    out = hash_encode(x, table, offsets, torch.tensor([res]))
    torch.testing.assert_close(out[:, 0], x @ coefficients.to(device) + 0.5, rtol=1e-5, atol=1e-5)


def test_hashed_level_uses_the_documented_hash(device):
    # Rows filled with their own index: a point on a vertex reads back the row it hashes to.
    res, size = 64, 1 << 12
    table = torch.arange(size, dtype=torch.float32)[:, None].to(device)
    vertices = torch.tensor([[1, 1, 1], [3, 17, 60], [64, 0, 33], [64, 64, 64]])
    expected = [(v[0] * HASH_PRIMES[0] ^ v[1] * HASH_PRIMES[1] ^ v[2] * HASH_PRIMES[2]) % size
                for v in vertices.tolist()]
    out = hash_encode((vertices / res).float().to(device), table, torch.tensor([0, size]), torch.tensor([res]))
    assert out[:, 0].tolist() == expected


def test_empty_batch(device):
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    emb = embeddings.clone().requires_grad_(True)
    x = torch.zeros(0, 3, device=device, requires_grad=True)
    out = hash_encode(x, emb, offsets, resolutions)
    assert out.shape == (0, 12)
    out.sum().backward()
    assert x.grad.shape == (0, 3) and torch.all(emb.grad == 0)


def test_double_backward_raises_a_clear_error(device):
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    emb = embeddings.clone().requires_grad_(True)
    x = torch.rand(50, 3, device=device, requires_grad=True)
    out = hash_encode(x, emb, offsets, resolutions)
    (grad_x,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # first order (normals) works
    with pytest.raises(RuntimeError, match="double backward is not supported"):
        grad_x.norm(dim=-1).sum().backward()


def test_bad_input_names_the_argument(device):
    embeddings, offsets, resolutions = random_grid(3, 6, 2, 12, 4, 64, device)
    x = torch.rand(10, 3, device=device)
    with pytest.raises(TypeError, match="'x'"):
        hash_encode(x.double(), embeddings, offsets, resolutions)
    with pytest.raises(ValueError, match="'x'"):
        hash_encode(torch.rand(10, 4, device=device), embeddings, offsets, resolutions)
    with pytest.raises(ValueError, match="contiguous"):
        hash_encode(torch.rand(3, 10, device=device).T, embeddings, offsets, resolutions)
    with pytest.raises(TypeError, match="'embeddings'"):
        hash_encode(x, embeddings.half(), offsets, resolutions)
    with pytest.raises(ValueError, match="'embeddings'"):
        hash_encode(x, torch.zeros(int(offsets[-1]), 3, device=device), offsets, resolutions)
    with pytest.raises(TypeError, match="'level_offsets'"):
        hash_encode(x, embeddings, offsets.int(), resolutions)
    with pytest.raises(ValueError, match="'level_offsets'"):
        hash_encode(x, embeddings, offsets[:-1], resolutions)
    with pytest.raises(ValueError, match="'level_offsets'"):  # does not end at the table's row count
        hash_encode(x, embeddings[:-1], offsets, resolutions)
    with pytest.raises(ValueError, match="'level_offsets'"):  # hashed level of 3000 rows: not a power of two
        hash_encode(x, torch.zeros(3000, 2, device=device), torch.tensor([0, 3000]), torch.tensor([64]))
    with pytest.raises(ValueError, match="'resolutions'"):
        hash_encode(x, embeddings, offsets, torch.zeros_like(resolutions))


def test_module_config_round_trip_and_output(device):
    encoding = HashEncoding(input_dim=3, n_levels=8, n_features_per_level=4, log2_hashmap_size=14,
                            base_resolution=8, finest_resolution=256).to(device)
    assert encoding.output_dim == 32
    assert encoding.embeddings.abs().max() <= 1e-4
    rebuilt = HashEncoding.from_config(encoding.config)
    assert rebuilt.config == encoding.config
    assert rebuilt.embeddings.shape == encoding.embeddings.shape
    assert torch.equal(rebuilt.level_offsets, encoding.level_offsets)
    x = torch.rand(2, 5, 3, device=device)
    out = encoding(x)
    assert out.shape == (2, 5, 32)
    ref = hash_encode_reference(x.reshape(-1, 3), encoding.embeddings, encoding.level_offsets,
                                encoding.resolutions)
    torch.testing.assert_close(out.reshape(-1, 32), ref)


def test_module_default_is_the_instant_ngp_grid():
    encoding = HashEncoding()
    assert encoding.output_dim == 32
    assert level_resolutions(16, 16, 2048)[-1] == 2048
    assert encoding.resolutions[0] == 16 and encoding.resolutions[-1] == 2048
    # Levels whose 17^3 ... vertices fit in 2^19 rows are dense; the rest hash into exactly 2^19 rows.
    sizes = (encoding.level_offsets[1:] - encoding.level_offsets[:-1]).tolist()
    assert sizes[0] == 17**3 and sizes[-1] == 1 << 19
    assert level_kinds(encoding.level_offsets, encoding.resolutions, 3).count("dense") == 5
