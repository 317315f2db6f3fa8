import torch

from bench.op_cases import Case
from fields.ops import fused_mlp, fused_mlp_reference

# The field heads' MLPs (fields/models): the hash backbone's density MLP and the colour head shared by every
# radiance field. Samples per call: a lego training step's (the trainer's target_samples: 2^16 on a CPU, 2^18 on a
# GPU); the no-grad density pass sees about twice as many.
MLPS = [([32, 64, 16], "none", "hash density 32-64-16"),
        ([31, 64, 64, 3], "sigmoid", "colour head 31-64-64-3, sigmoid")]


def cases(device):
    n = 1 << 18 if device.type == "cuda" else 1 << 16
    g = torch.Generator().manual_seed(0)
    result = []
    for sizes, activation, label in MLPS:
        x = torch.randn(n, sizes[0], generator=g).to(device)
        weights = [(torch.randn(o, i, generator=g) / i**0.5).to(device) for i, o in zip(sizes[:-1], sizes[1:])]
        biases = [(0.1 * torch.randn(o, generator=g)).to(device) for o in sizes[1:]]
        grad = torch.randn(n, sizes[-1], generator=g).to(device)

        def forward(fn, x=x, weights=weights, biases=biases, activation=activation):
            return lambda: fn(x, weights, biases, activation)

        def fwd_bwd(fn, x=x, weights=weights, biases=biases, activation=activation, grad=grad):
            leaves = [t.clone().requires_grad_(True) for t in (x, *weights, *biases)]
            layers = len(weights)

            def run():
                for leaf in leaves:
                    leaf.grad = None
                fn(leaves[0], leaves[1 : 1 + layers], leaves[1 + layers :], activation).backward(grad)
            return run

        samples = f"2^{n.bit_length() - 1}"
        result += [
            Case(f"fused_mlp fwd, {label}, {samples}", forward(fused_mlp), forward(fused_mlp_reference), n, "samples"),
            Case(f"fused_mlp fwd+bwd, {label}, {samples}", fwd_bwd(fused_mlp), fwd_bwd(fused_mlp_reference), n,
                 "samples"),
        ]
    return result
