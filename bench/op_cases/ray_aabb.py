import torch

from bench.op_cases import Case
from fields.ops import ray_aabb_intersect, ray_aabb_intersect_reference


def cases(device):
    n = 1 << 20
    g = torch.Generator().manual_seed(0)
    o = (torch.rand(n, 3, generator=g) * 8 - 4).to(device)
    d = torch.randn(n, 3, generator=g).to(device)
    aabb = torch.tensor([-1.5, -1.5, -1.5, 1.5, 1.5, 1.5], device=device)
    return [Case("ray_aabb_intersect", lambda: ray_aabb_intersect(o, d, aabb),
                 lambda: ray_aabb_intersect_reference(o, d, aabb), n, "rays")]
