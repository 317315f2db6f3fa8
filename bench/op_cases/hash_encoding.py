import torch

from bench.op_cases import Case
from fields.encodings import HashEncoding
from fields.ops import hash_encode, hash_encode_reference


def cases(device):
    # The Instant-NGP grid of the NeRF trainer: 16 levels x 2 features, 2^19 rows per hashed level, 16..2048.
    n = 1 << 18
    encoding = HashEncoding(input_dim=3, n_levels=16, n_features_per_level=2, log2_hashmap_size=19)
    embeddings = encoding.embeddings.detach().to(device)
    offsets, resolutions = encoding.level_offsets, encoding.resolutions
    x = torch.rand(n, 3, device=device)
    grad = torch.randn(n, encoding.output_dim, device=device)

    def forward(fn):
        return lambda: fn(x, embeddings, offsets, resolutions)

    def forward_backward(fn, x_grad):
        points = x.clone().requires_grad_(x_grad)
        table = embeddings.clone().requires_grad_(True)

        def run():
            points.grad = table.grad = None  # the backward then hands over its gradient tensors without a copy
            fn(points, table, offsets, resolutions).backward(grad)
        return run

    name = "hash_encode {}, D=3, 16x2, 2^19"
    return [
        Case(name.format("fwd"), forward(hash_encode), forward(hash_encode_reference), n, "points"),
        Case(name.format("fwd+bwd"), forward_backward(hash_encode, False),
             forward_backward(hash_encode_reference, False), n, "points"),
        Case(name.format("fwd+bwd incl. d/dx"), forward_backward(hash_encode, True),
             forward_backward(hash_encode_reference, True), n, "points"),
    ]
