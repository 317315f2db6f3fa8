import torch

from bench.op_cases import Case
from fields.ops import rbf_layer, rbf_layer_reference


def cases(device):
    n = 1 << 16
    shapes = [(18, 64, 3, "image/SDF-sized: F 18, N 64, O 3"), (32, 32, 16, "radiance-sized: F 32, N 32, O 16")]
    result = []
    for n_features, n_kernels, n_outputs, label in shapes:
        features = torch.randn(n, n_features, device=device)
        params = [0.3 * torch.randn(n_kernels, n_features, device=device),
                  torch.full((n_kernels, n_features), -2.0, device=device),
                  torch.randn(n_outputs, n_kernels, device=device) / n_kernels**0.5,
                  torch.zeros(n_outputs, device=device)]
        grad = torch.randn(n, n_outputs, device=device)

        def forward(fn, features=features, params=params):
            return lambda: fn(features, *params)

        def fwd_bwd(fn, features=features, params=params, grad=grad):
            def run():
                leaves = [t.clone().requires_grad_(True) for t in (features, *params)]
                fn(*leaves).backward(grad)
            return run

        result += [
            Case(f"rbf_layer fwd, {label}", forward(rbf_layer), forward(rbf_layer_reference), n, "points"),
            Case(f"rbf_layer fwd+bwd, {label}", fwd_bwd(rbf_layer), fwd_bwd(rbf_layer_reference), n, "points"),
        ]
    return result
