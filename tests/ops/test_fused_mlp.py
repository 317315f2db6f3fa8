import pytest
import torch

from fields.ops import fused_mlp, fused_mlp_reference
from fields.ops.fused_mlp import fused_mlp_supports


def random_mlp(device, sizes, batch, seed=0):
    """x ~ N(0, 1) and nn.Linear-scaled weights, with biases large enough that some ReLUs are off for every sample."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, sizes[0], generator=g)
    weights = [torch.randn(n, k, generator=g) / k**0.5 for k, n in zip(sizes[:-1], sizes[1:])]
    biases = [0.3 * torch.randn(n, generator=g) for n in sizes[1:]]
    return x.to(device), [w.to(device) for w in weights], [b.to(device) for b in biases]


def leaves(x, weights, biases):
    return [t.clone().requires_grad_(True) for t in (x, *weights, *biases)]


def run(fn, params, n_layers, activation):
    return fn(params[0], params[1 : 1 + n_layers], params[1 + n_layers :], activation)


# (widths, output activation, batch): the colour head, the hash backbone's MLP, one linear layer, odd and maximal
# widths, nine layers; 20000 samples span more blocks than the CPU path has gradient slices.
CASES = [
    ([31, 64, 64, 3], "sigmoid", 1000),
    ([32, 64, 16], "none", 1000),
    ([7, 5], "none", 33),
    ([3, 17, 17, 1], "sigmoid", 129),
    ([64, 64, 64], "none", 200),
    ([2] + [16] * 8 + [3], "none", 300),
    ([31, 64, 64, 3], "sigmoid", 20000),
]


@pytest.mark.parametrize("sizes,activation,batch", CASES)
def test_values_and_gradients_match_reference(device, sizes, activation, batch):
    x, weights, biases = random_mlp(device, sizes, batch)
    n = len(weights)
    native, reference = leaves(x, weights, biases), leaves(x, weights, biases)
    out = run(fused_mlp, native, n, activation)
    ref = run(fused_mlp_reference, reference, n, activation)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    exact = run(fused_mlp_reference, [t.double() for t in (x, *weights, *biases)], n, activation)
    torch.testing.assert_close(out.double(), exact, rtol=1e-5, atol=1e-5)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    (ref * grad_out).sum().backward()
    for i, (a, b) in enumerate(zip(native, reference)):
        scale = b.grad.abs().max().item() + 1e-6
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5 * scale, msg=f"input {i}")


def test_gradients_do_not_depend_on_the_thread_count():
    x, weights, biases = random_mlp("cpu", [31, 64, 64, 3], 20000)
    grads = []
    threads = torch.get_num_threads()
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            params = leaves(x, weights, biases)
            run(fused_mlp, params, 3, "sigmoid").sum().backward()
            grads.append([p.grad for p in params])
    finally:
        torch.set_num_threads(threads)
    for other in grads[1:]:
        assert all(torch.equal(a, b) for a, b in zip(grads[0], other))


def test_only_requested_gradients_are_returned(device):
    x, weights, biases = random_mlp(device, [32, 64, 16], 50)
    weights[1].requires_grad_(True)
    fused_mlp(x, weights, biases).sum().backward()
    assert weights[1].grad is not None and x.grad is None and weights[0].grad is None and biases[0].grad is None


def test_no_grad_forward_keeps_no_activations(device):
    x, weights, biases = random_mlp(device, [32, 64, 64, 16], 40)
    out, hidden = torch.ops.fields.fused_mlp_forward(x, weights, biases, "none", False)
    assert hidden.numel() == 0
    torch.testing.assert_close(out, fused_mlp_reference(x, weights, biases), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="hidden"):  # the backward pass needs them
        torch.ops.fields.fused_mlp_backward(x, weights, biases, "none", hidden, out, torch.ones_like(out), True)


def test_empty_batch(device):
    x, weights, biases = random_mlp(device, [31, 64, 64, 3], 0)
    params = leaves(x, weights, biases)
    out = run(fused_mlp, params, 3, "sigmoid")
    assert out.shape == (0, 3)
    out.sum().backward()
    assert all(p.grad is not None and (p.grad == 0).all() for p in params)


def test_nan_rows_stay_nan_and_other_rows_are_unaffected(device):
    x, weights, biases = random_mlp(device, [31, 64, 64, 3], 300)
    x[3, 5] = float("nan")
    x[200, 0] = float("inf")
    out = fused_mlp(x, weights, biases)
    bad = torch.zeros(300, dtype=torch.bool, device=device)
    bad[[3, 200]] = True
    assert out[bad].isnan().all()
    torch.testing.assert_close(out[~bad], fused_mlp_reference(x[~bad], weights, biases), rtol=1e-5, atol=1e-5)


def test_bad_input_names_the_argument(device):
    x, weights, biases = random_mlp(device, [31, 64, 64, 3], 8)
    with pytest.raises(TypeError, match="'x'.*Float"):
        fused_mlp(x.double(), weights, biases)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        fused_mlp(x, [weights[0], weights[1][:, :10], weights[2]], biases)
    with pytest.raises(ValueError, match=r"biases\[2\]"):
        fused_mlp(x, weights, [biases[0], biases[1], biases[2][:2]])
    with pytest.raises(ValueError, match="one bias per weight"):
        fused_mlp(x, weights, biases[:2])
    with pytest.raises(ValueError, match="output_activation"):
        fused_mlp(x, weights, biases, "tanh")
    with pytest.raises(ValueError, match="one width"):
        fused_mlp(x, [weights[0], torch.zeros(32, 64, device=device), torch.zeros(3, 32, device=device)],
                  [biases[0], torch.zeros(32, device=device), biases[2]])
    with pytest.raises(ValueError, match="1 to 64"):
        fused_mlp(torch.zeros(8, 65, device=device), [torch.zeros(3, 65, device=device)], [biases[2]])
    with pytest.raises(ValueError, match="contiguous"):
        torch.ops.fields.fused_mlp_forward(x.T.contiguous().T, weights, biases, "none", False)
    with pytest.raises(ValueError, match="weight matrices"):
        fused_mlp(x[:, :3].contiguous(), [torch.zeros(3, 3, device=device)] * 10,
                  [torch.zeros(3, device=device)] * 10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_inputs_on_different_devices_are_refused():
    x, weights, biases = random_mlp("cpu", [32, 64, 16], 8)
    with pytest.raises(ValueError, match=r"weights\[0\].*same device"):
        fused_mlp(x.cuda(), weights, biases)


def test_supports_tells_what_the_op_takes():
    x, weights, _ = random_mlp("cpu", [31, 64, 64, 3], 4)
    assert fused_mlp_supports(x, weights)
    assert not fused_mlp_supports(x.double(), weights)
    assert not fused_mlp_supports(x, [torch.zeros(128, 31), torch.zeros(3, 128)])
    assert not fused_mlp_supports(x, [torch.zeros(64, 31), torch.zeros(32, 64), torch.zeros(3, 32)])


def test_registration_passes_torch_opcheck(device):
    # Schema, fake (shape-only) kernels for torch.compile, and that the op does not write into its inputs.
    x, weights, biases = random_mlp(device, [31, 64, 64, 3], 40)
    out, hidden = torch.ops.fields.fused_mlp_forward(x, weights, biases, "sigmoid", True)
    tests = ("test_schema", "test_faketensor")
    torch.library.opcheck(torch.ops.fields.fused_mlp_forward.default, (x, weights, biases, "sigmoid", True),
                          test_utils=tests)
    torch.library.opcheck(torch.ops.fields.fused_mlp_backward.default,
                          (x, weights, biases, "sigmoid", hidden, out, torch.randn_like(out), True), test_utils=tests)
