import pytest
import torch

from fields.ops import sh_encode, sh_encode_reference


def random_dirs(n, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g)
    return torch.nn.functional.normalize(d, dim=-1).to(device)


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5])
def test_values_and_gradients_match_reference(device, degree):
    dirs = random_dirs(1000, device).requires_grad_(True)
    dirs_ref = dirs.detach().clone().requires_grad_(True)
    out = sh_encode(dirs, degree)
    ref = sh_encode_reference(dirs_ref, degree)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    if degree == 1:  # a constant: the reference has no graph, the kernel must return zeros
        torch.testing.assert_close(dirs.grad, torch.zeros_like(dirs))
        return
    (ref * grad_out).sum().backward()
    torch.testing.assert_close(dirs.grad, dirs_ref.grad, rtol=1e-4, atol=1e-5)


def test_orthonormal_basis_on_the_sphere():
    # Monte-Carlo check of the reference itself: real SH are orthonormal over the sphere (∫ Y_i Y_j = δ_ij).
    dirs = random_dirs(400_000, "cpu", seed=1).double()
    basis = sh_encode_reference(dirs, 5)
    gram = basis.T @ basis * (4 * torch.pi / dirs.shape[0])
    torch.testing.assert_close(gram, torch.eye(25, dtype=torch.float64), atol=2e-2, rtol=0)


def test_empty_batch(device):
    assert sh_encode(torch.zeros(0, 3, device=device), 4).shape == (0, 16)


def test_bad_input_names_the_argument(device):
    with pytest.raises(TypeError, match="dirs"):
        sh_encode(torch.zeros(4, 3, dtype=torch.float64, device=device))
    with pytest.raises(ValueError, match="dirs"):
        sh_encode(torch.zeros(4, 2, device=device))
    with pytest.raises(ValueError, match="contiguous"):
        sh_encode(torch.zeros(3, 4, device=device).T[:, :3])
    with pytest.raises(ValueError, match=r"degree must be in \[1, 5\], got 6"):
        sh_encode(torch.zeros(4, 3, device=device), 6)
