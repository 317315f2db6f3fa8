import pytest
import torch

from fields.ops import rbf_layer, rbf_layer_reference

NAMES = ("features", "centres", "log_precisions", "weight", "bias")


def random_inputs(device, batch=300, n_features=18, n_kernels=64, n_outputs=16, seed=0, spread=1.0):
    """Features ~ N(0, 1) as GNF's grids give them; centres drawn near the features so that many activations lie
    well inside (0, 1), and log-precisions spread over a decade either way."""
    g = torch.Generator().manual_seed(seed)
    tensors = (
        torch.randn(batch, n_features, generator=g),
        spread * torch.randn(n_kernels, n_features, generator=g),
        torch.rand(n_kernels, n_features, generator=g) * 2.0 - 3.5,
        torch.randn(n_outputs, n_kernels, generator=g) / n_kernels**0.5,
        torch.randn(n_outputs, generator=g),
    )
    return [t.to(device) for t in tensors]


def direct_float64(features, centres, log_precisions, weight, bias):
    """The definition, term by term in float64: 1/2 sum exp(beta) (f - c)^2, no expansion."""
    f, c, beta, w, b = (t.double() for t in (features, centres, log_precisions, weight, bias))
    distance = 0.5 * (torch.exp(beta)[None] * (f[:, None, :] - c[None]) ** 2).sum(-1)
    return torch.exp(-distance) @ w.T + b


# (features, kernels, outputs, batch); 4500 points span several of the CPU path's 2048-point blocks and threads.
@pytest.mark.parametrize("sizes", [(18, 64, 16, 257), (3, 1, 1, 257), (40, 33, 49, 257), (128, 256, 64, 257),
                                   (18, 64, 3, 4500)])
def test_values_and_gradients_match_reference(device, sizes):
    n_features, n_kernels, n_outputs, batch = sizes
    inputs = random_inputs(device, batch=batch, n_features=n_features, n_kernels=n_kernels, n_outputs=n_outputs)
    native_inputs = [t.clone().requires_grad_(True) for t in inputs]
    reference_inputs = [t.clone().requires_grad_(True) for t in inputs]
    out = rbf_layer(*native_inputs)
    ref = rbf_layer_reference(*reference_inputs)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.double(), direct_float64(*inputs), rtol=1e-4, atol=1e-5)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    (ref * grad_out).sum().backward()
    for name, native, reference in zip(NAMES, native_inputs, reference_inputs):
        scale = reference.grad.abs().max().item() + 1e-6
        torch.testing.assert_close(native.grad, reference.grad, rtol=1e-3, atol=1e-4 * scale, msg=name)


def test_gradients_match_finite_differences():
    # Independent of the reference: central differences of the native op itself, in float32 with a wide step.
    inputs = random_inputs("cpu", batch=5, n_features=4, n_kernels=6, n_outputs=3, seed=3)
    params = [t.clone().requires_grad_(True) for t in inputs]
    grad_out = torch.randn(5, 3)
    (rbf_layer(*params) * grad_out).sum().backward()
    h = 1e-2
    for name, tensor, param in zip(NAMES, inputs, params):
        for index in [(0,), (-1,)] if tensor.dim() == 1 else [(0, 0), (-1, -1), (1, 2)]:
            plus, minus = [t.clone() for t in inputs], [t.clone() for t in inputs]
            position = NAMES.index(name)
            plus[position][index] += h
            minus[position][index] -= h
            numeric = ((rbf_layer(*plus) - rbf_layer(*minus)) * grad_out).sum() / (2 * h)
            torch.testing.assert_close(param.grad[index], numeric, rtol=2e-2, atol=2e-3, msg=f"{name}{index}")


def test_only_requested_gradients_are_returned(device):
    features, centres, log_precisions, weight, bias = random_inputs(device, batch=20)
    centres.requires_grad_(True)
    rbf_layer(features, centres, log_precisions, weight, bias).sum().backward()
    assert centres.grad is not None and features.grad is None and weight.grad is None


def test_far_features_give_zero_activations_not_nan(device):
    features, centres, log_precisions, weight, bias = random_inputs(device, batch=64)
    far = (features * 1e4).requires_grad_(True)  # D ~ 1e8: the expansion's terms are ~1e8 and cancel badly
    log_precisions = torch.full_like(log_precisions, 4.0).requires_grad_(True)
    out = rbf_layer(far, centres, log_precisions, weight, bias)
    torch.testing.assert_close(out, bias.expand_as(out), rtol=0, atol=1e-6)  # every activation is (almost) 0
    out.sum().backward()
    assert torch.isfinite(far.grad).all() and torch.isfinite(log_precisions.grad).all()


def test_cancellation_never_gives_activations_above_one(device):
    # Features exactly at the centres with large values: the expansion cancels to about +-ulp(1e6) and the clamp
    # must keep phi <= 1.
    centres = (torch.randn(8, 18, device=device) * 1e3).contiguous()
    features = centres[torch.arange(64, device=device) % 8].contiguous()
    log_precisions = torch.zeros(8, 18, device=device)
    weight, bias = torch.eye(8, device=device), torch.zeros(8, device=device)
    phi = rbf_layer(features, centres, log_precisions, weight, bias)
    assert torch.isfinite(phi).all() and (phi >= 0).all() and (phi <= 1.0 + 1e-6).all()


def test_empty_batch(device):
    features, centres, log_precisions, weight, bias = random_inputs(device, batch=0)
    params = [t.requires_grad_(True) for t in (features, centres, log_precisions, weight, bias)]
    out = rbf_layer(*params)
    assert out.shape == (0, 16)
    out.sum().backward()
    assert all(p.grad is not None and (p.grad == 0).all() for p in params)


def test_nan_features_give_nan_rows_and_no_crash(device):
    features, centres, log_precisions, weight, bias = random_inputs(device, batch=10)
    features[3, 5] = float("nan")
    features[7, 0] = float("inf")
    out = rbf_layer(features, centres, log_precisions, weight, bias)
    bad = torch.zeros(10, dtype=torch.bool, device=device)
    bad[[3, 7]] = True
    assert out[bad].isnan().all()
    torch.testing.assert_close(out[~bad], rbf_layer_reference(features[~bad], centres, log_precisions, weight, bias),
                               rtol=1e-4, atol=1e-5)


def test_bad_input_names_the_argument(device):
    features, centres, log_precisions, weight, bias = random_inputs(device, batch=8)
    with pytest.raises(TypeError, match="features"):
        rbf_layer(features.double(), centres, log_precisions, weight, bias)
    with pytest.raises(ValueError, match="centres"):
        rbf_layer(features, centres[:, :5].contiguous(), log_precisions, weight, bias)
    with pytest.raises(ValueError, match="log_precisions"):
        rbf_layer(features, centres, log_precisions[:3], weight, bias)
    with pytest.raises(ValueError, match="weight"):
        rbf_layer(features, centres, log_precisions, weight[:, :7].contiguous(), bias)
    with pytest.raises(ValueError, match="bias"):
        rbf_layer(features, centres, log_precisions, weight, bias[:2])
    with pytest.raises(ValueError, match="contiguous"):
        rbf_layer(features.T.contiguous().T, centres, log_precisions, weight, bias)
    with pytest.raises(ValueError, match="centres"):
        rbf_layer(features, torch.zeros(257, 18, device=device), torch.zeros(257, 18, device=device),
                  torch.zeros(16, 257, device=device), bias)
