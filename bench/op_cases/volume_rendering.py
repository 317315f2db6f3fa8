import torch

from bench.op_cases import Case
from fields.ops import volume_render, volume_render_reference


def packed_rays(counts, device, seed=0):
    """Packed samples for rays with the given sample counts: t from 2 in steps of 5e-3 (the NeRF-synthetic marching
    step), densities mostly empty with dense clumps. Some rays terminate early, but few samples are dropped (1% at 64
    samples per ray, 13% at 0-128), so the kernels gain little from skipping work: a fair case for the reference."""
    g = torch.Generator().manual_seed(seed)
    firsts = torch.cumsum(counts, 0) - counts
    n_samples = int(counts.sum())
    ray_of = torch.repeat_interleave(torch.arange(len(counts)), counts)
    index_in_ray = torch.arange(n_samples) - firsts[ray_of]
    t_starts = 2.0 + 5e-3 * index_in_ray.float()
    sigmas = 200.0 * torch.rand(n_samples, generator=g) ** 8
    rgbs = torch.rand(n_samples, 3, generator=g)
    packed_info = torch.stack([firsts, counts], dim=1)
    return [t.to(device) for t in (sigmas, rgbs, t_starts, t_starts + 5e-3, packed_info)]


def render_cases(label, batch, device):
    sigmas, rgbs, t_starts, t_ends, packed_info = batch
    n_rays, n_samples = packed_info.shape[0], sigmas.shape[0]
    grads = [torch.randn(n_rays, 3, device=device), torch.randn(n_rays, device=device),
             torch.randn(n_rays, device=device)]

    def forward(fn):
        return lambda: fn(sigmas, rgbs, t_starts, t_ends, packed_info)

    def forward_backward(fn):
        def run():
            out = fn(sigmas.clone().requires_grad_(True), rgbs.clone().requires_grad_(True), t_starts, t_ends,
                     packed_info)
            torch.autograd.backward([out.rgb, out.opacity, out.depth], grads)
        return run

    return [
        Case(f"volume_render fwd, {label}", forward(volume_render), forward(volume_render_reference), n_samples,
             "samples"),
        Case(f"volume_render fwd+bwd, {label}", forward_backward(volume_render),
             forward_backward(volume_render_reference), n_samples, "samples"),
    ]


def cases(device):
    n_rays = 4096
    uniform = torch.full((n_rays,), 64)
    varying = torch.randint(0, 129, (n_rays,), generator=torch.Generator().manual_seed(1))  # ~2^18 samples in all
    return (render_cases("4096 rays x 64", packed_rays(uniform, device), device)
            + render_cases(f"4096 rays x 0-128 ({int(varying.sum())} samples)", packed_rays(varying, device),
                           device))
