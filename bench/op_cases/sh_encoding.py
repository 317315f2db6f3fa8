import torch

from bench.op_cases import Case
from fields.ops import sh_encode, sh_encode_reference


def cases(device):
    n = 1 << 18
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, device=device), dim=-1)
    grad = torch.randn(n, 16, device=device)

    def fwd_bwd(fn):
        def run():
            d = dirs.clone().requires_grad_(True)
            fn(d, 4).backward(grad)
        return run

    return [
        Case("sh_encode fwd, degree 4", lambda: sh_encode(dirs, 4), lambda: sh_encode_reference(dirs, 4), n, "dirs"),
        Case("sh_encode fwd+bwd, degree 4", fwd_bwd(sh_encode), fwd_bwd(sh_encode_reference), n, "dirs"),
    ]
