import math

import pytest
import torch

from fields.ops import RaySamples, contributing_samples, select_samples, volume_render, volume_render_reference


def packed_batch(n_rays, device, max_samples=40, density=40.0, seed=0):
    """Random packed rays (some with 0 samples) laid out one after another, with increasing t inside each ray."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, max_samples + 1, (n_rays,), generator=g)
    counts[:3] = 0  # always a few empty rays
    counts = counts[torch.randperm(n_rays, generator=g)]
    firsts = torch.cumsum(counts, 0) - counts
    n_samples = int(counts.sum())
    ray_of = torch.repeat_interleave(torch.arange(n_rays), counts)
    dt = 0.01 + 0.05 * torch.rand(n_samples, generator=g)
    ends = torch.cumsum(dt, 0)
    ray_origin = (ends - dt)[firsts.clamp(max=max(n_samples - 1, 0))][ray_of]  # restart t at each ray's first sample
    t_ends = 2.0 + ends - ray_origin
    t_starts = t_ends - dt
    # Mostly empty space with dense clumps, so that many rays reach the early-termination threshold.
    sigmas = density * torch.rand(n_samples, generator=g) ** 4
    rgbs = torch.rand(n_samples, 3, generator=g)
    packed_info = torch.stack([firsts, counts], dim=1)
    return [t.to(device) for t in (sigmas, rgbs, t_starts, t_ends, packed_info)]


def render_both(sigmas, rgbs, t_starts, t_ends, packed_info, **options):
    """Native and reference renders on separate leaf copies of sigmas and rgbs (to compare their gradients)."""
    leaves = [(sigmas.clone().requires_grad_(), rgbs.clone().requires_grad_()) for _ in range(2)]
    native = volume_render(*leaves[0], t_starts, t_ends, packed_info, **options)
    reference = volume_render_reference(*leaves[1], t_starts, t_ends, packed_info, **options)
    return native, reference, leaves


def random_loss(out, terms, seed=1):
    g = torch.Generator().manual_seed(seed)
    loss = 0.0
    for name in terms:
        value = getattr(out, name)
        loss = loss + (value * torch.randn(value.shape, generator=g).to(value.device)).sum()
    return loss


def assert_matches_reference(native, reference, leaves, terms=("rgb", "opacity", "depth")):
    for name in ("rgb", "opacity", "depth", "weights"):
        torch.testing.assert_close(getattr(native, name), getattr(reference, name), rtol=1e-5, atol=1e-6)
    random_loss(native, terms).backward()
    random_loss(reference, terms).backward()
    (sigmas, rgbs), (sigmas_ref, rgbs_ref) = leaves
    torch.testing.assert_close(sigmas.grad, sigmas_ref.grad, rtol=1e-4, atol=1e-5)
    # Without rgb in the loss the reference never reaches rgbs (grad None); the kernel returns zeros.
    rgbs_ref_grad = torch.zeros_like(rgbs) if rgbs_ref.grad is None else rgbs_ref.grad
    torch.testing.assert_close(rgbs.grad, rgbs_ref_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("early_stop_eps, alpha_threshold", [(1e-4, 0.0), (0.0, 0.0), (1e-2, 0.05)])
def test_values_and_gradients_match_reference(device, early_stop_eps, alpha_threshold):
    batch = packed_batch(300, device)
    native, reference, leaves = render_both(
        *batch, early_stop_eps=early_stop_eps, alpha_threshold=alpha_threshold
    )
    assert_matches_reference(native, reference, leaves)


@pytest.mark.parametrize("terms", [("rgb",), ("opacity",), ("depth",)])
def test_gradients_of_each_output_alone(device, terms):
    native, reference, leaves = render_both(*packed_batch(100, device, seed=2))
    assert_matches_reference(native, reference, leaves, terms)


def test_rays_in_any_order_with_unowned_samples(device):
    # packed_info rows need not follow sample order, and samples no ray owns get weight 0 and gradient 0.
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(120, device, seed=3)
    order = torch.randperm(packed_info.shape[0], generator=torch.Generator().manual_seed(0))
    packed_info = packed_info[order.to(device)][::2].contiguous()
    native, reference, leaves = render_both(sigmas, rgbs, t_starts, t_ends, packed_info)
    assert_matches_reference(native, reference, leaves)
    owned = torch.zeros(sigmas.shape[0], dtype=torch.bool, device=device)
    for first, count in packed_info.tolist():
        owned[first:first + count] = True
    assert (native.weights[~owned] == 0).all() and (leaves[0][0].grad[~owned] == 0).all()


@pytest.mark.parametrize("early_stop_eps, alpha_threshold", [(1e-4, 0.0), (1e-2, 0.05)])
def test_rendering_only_the_contributing_samples_changes_nothing(device, early_stop_eps, alpha_threshold):
    # What renderers rely on to skip the field where compositing would drop the sample anyway.
    options = dict(early_stop_eps=early_stop_eps, alpha_threshold=alpha_threshold)
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(300, device, seed=4)
    keep = contributing_samples(sigmas, t_starts, t_ends, packed_info, **options)
    reference = volume_render_reference(sigmas, rgbs, t_starts, t_ends, packed_info, **options)
    assert bool((sigmas > 0).all())  # so that the samples kept are exactly those with a weight
    assert torch.equal(keep, reference.weights > 0) and 0 < int(keep.sum()) < keep.numel()

    ray_indices = torch.repeat_interleave(torch.arange(packed_info.shape[0], device=device), packed_info[:, 1])
    kept = select_samples(RaySamples(ray_indices, t_starts, t_ends, packed_info), keep)
    full_leaves = (sigmas.clone().requires_grad_(), rgbs.clone().requires_grad_())
    kept_leaves = (sigmas[keep].clone().requires_grad_(), rgbs[keep].clone().requires_grad_())
    full = volume_render(*full_leaves, t_starts, t_ends, packed_info, **options)
    only_kept = volume_render(*kept_leaves, kept.t_starts, kept.t_ends, kept.packed_info, **options)
    for name in ("rgb", "opacity", "depth"):
        torch.testing.assert_close(getattr(only_kept, name), getattr(full, name), rtol=0, atol=0)
    random_loss(full, ("rgb", "opacity", "depth")).backward()
    random_loss(only_kept, ("rgb", "opacity", "depth")).backward()
    for full_leaf, kept_leaf in zip(full_leaves, kept_leaves):
        torch.testing.assert_close(kept_leaf.grad, full_leaf.grad[keep], rtol=1e-6, atol=1e-7)
        assert not full_leaf.grad[~keep].any()


def test_reference_matches_a_per_ray_loop():
    # The reference (the specification) against the rule written as a plain sequential loop in float64.
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(40, "cpu", seed=4)
    eps, threshold = 1e-3, 0.02
    ref = volume_render_reference(sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps=eps,
                                  alpha_threshold=threshold)
    for ray, (first, count) in enumerate(packed_info.tolist()):
        optical_depth, rgb, opacity, depth = 0.0, torch.zeros(3, dtype=torch.float64), 0.0, 0.0
        for j in range(first, first + count):
            transmittance = math.exp(-optical_depth)
            if transmittance < eps:
                break
            dt = float(t_ends[j] - t_starts[j])
            alpha = 1.0 - math.exp(-max(float(sigmas[j]), 0.0) * dt)
            if alpha < threshold:
                continue
            optical_depth += max(float(sigmas[j]), 0.0) * dt
            weight = transmittance * alpha
            rgb += weight * rgbs[j].double()
            opacity += weight
            depth += weight * 0.5 * float(t_starts[j] + t_ends[j])
        torch.testing.assert_close(ref.rgb[ray].double(), rgb, rtol=1e-5, atol=1e-6)
        assert ref.opacity[ray].item() == pytest.approx(opacity, rel=1e-5, abs=1e-6)
        assert ref.depth[ray].item() == pytest.approx(depth, rel=1e-5, abs=1e-6)


def one_ray(sigmas, dt, device):
    sigmas = torch.tensor(sigmas, dtype=torch.float32, device=device)
    n = sigmas.shape[0]
    t_starts = torch.arange(n, dtype=torch.float32, device=device) * dt
    packed_info = torch.tensor([[0, n]], device=device)
    return sigmas, torch.rand(n, 3, device=device), t_starts, t_starts + dt, packed_info


def test_two_samples_by_hand(device):
    sigmas, rgbs, t_starts, t_ends, packed_info = one_ray([1.0, 2.0], 0.5, device)
    out = volume_render(sigmas, rgbs, t_starts, t_ends, packed_info)
    expected = torch.tensor([1 - math.exp(-0.5), math.exp(-0.5) * (1 - math.exp(-1.0))], device=device)
    torch.testing.assert_close(out.weights, expected)
    torch.testing.assert_close(out.opacity, expected.sum()[None])
    torch.testing.assert_close(out.depth, (expected * torch.tensor([0.25, 0.75], device=device)).sum()[None])
    torch.testing.assert_close(out.rgb, (expected[:, None] * rgbs).sum(0, keepdim=True))


def test_early_termination(device):
    # tau = 2 per sample, so T_j = exp(-2j) falls below 1e-4 at j = 5: samples 5.. carry no weight, no gradient.
    sigmas, rgbs, t_starts, t_ends, packed_info = one_ray([20.0] * 10, 0.1, device)
    sigmas.requires_grad_()
    out = volume_render(sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps=1e-4)
    (out.rgb.sum() + out.opacity.sum() + out.depth.sum()).backward()
    assert (out.weights[:5] > 0).all() and (out.weights[5:] == 0).all()
    assert (sigmas.grad[:5] != 0).all() and (sigmas.grad[5:] == 0).all()
    assert out.opacity.item() == pytest.approx(1 - math.exp(-10.0), rel=1e-6)
    without_stop = volume_render(sigmas.detach(), rgbs, t_starts, t_ends, packed_info, early_stop_eps=0.0)
    assert (without_stop.weights > 0).all()


def test_skipped_samples_do_not_attenuate(device):
    # alpha ~ 0.01 (below the threshold) then alpha = 0.5: the first is skipped, so the second sees T = 1.
    sigmas, rgbs, t_starts, t_ends, packed_info = one_ray([0.1, 10 * math.log(2.0)], 0.1, device)
    sigmas.requires_grad_()
    out = volume_render(sigmas, rgbs, t_starts, t_ends, packed_info, alpha_threshold=0.05)
    out.opacity.sum().backward()
    torch.testing.assert_close(out.weights, torch.tensor([0.0, 0.5], device=device))
    assert sigmas.grad[0] == 0 and sigmas.grad[1] > 0


@pytest.mark.parametrize("early_stop_eps", [1e-4, 0.0])
def test_extreme_sigmas_stay_finite(device, early_stop_eps):
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(200, device, seed=5)
    g = torch.Generator().manual_seed(6)
    pick = torch.randint(0, 5, sigmas.shape, generator=g).to(device)
    extremes = torch.tensor([1e6, 0.0, 1e-12, -5.0, 1.0], device=device)
    sigmas = torch.where(pick < 4, extremes[pick], sigmas)
    native, reference, leaves = render_both(sigmas, rgbs, t_starts, t_ends, packed_info,
                                            early_stop_eps=early_stop_eps)
    assert_matches_reference(native, reference, leaves)
    grad = leaves[0][0].grad
    assert all(torch.isfinite(t).all() for t in (*native, grad, leaves[0][1].grad))
    assert (grad[sigmas < 0] == 0).all()


def test_largest_float_sigma_stays_finite(device):
    # Beyond what the float64 reference handles (tau = inf): the kernels alone must still give finite numbers.
    sigmas, rgbs, t_starts, t_ends, packed_info = one_ray([1.0, 3.4e38, 1.0], 2.0, device)
    sigmas.requires_grad_()
    out = volume_render(sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps=0.0)
    (out.rgb.sum() + out.opacity.sum() + out.depth.sum()).backward()
    assert all(torch.isfinite(t).all() for t in (*out, sigmas.grad))
    assert out.opacity.item() == pytest.approx(1.0)


def test_empty_batches(device):
    f32 = dict(dtype=torch.float32, device=device)
    no_samples = [torch.zeros(0, **f32), torch.zeros(0, 3, **f32), torch.zeros(0, **f32), torch.zeros(0, **f32)]
    out = volume_render(*no_samples, torch.zeros(0, 2, dtype=torch.int64, device=device))
    assert [tuple(t.shape) for t in out] == [(0, 3), (0,), (0,), (0,)]
    out = volume_render(*no_samples, torch.zeros(4, 2, dtype=torch.int64, device=device))
    assert [tuple(t.shape) for t in out] == [(4, 3), (4,), (4,), (0,)]
    assert all((t == 0).all() for t in out)
    sigmas = torch.ones(5, **f32, requires_grad=True)
    out = volume_render(sigmas, torch.ones(5, 3, **f32), torch.zeros(5, **f32), torch.ones(5, **f32),
                        torch.zeros(0, 2, dtype=torch.int64, device=device))
    assert (out.weights == 0).all() and out.weights.shape == (5,)


def test_bad_input_names_the_argument(device):
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(10, device, seed=7)
    good = dict(sigmas=sigmas, rgbs=rgbs, t_starts=t_starts, t_ends=t_ends, packed_info=packed_info)

    def call(**changes):
        args = {**good, **changes}
        return volume_render(args["sigmas"], args["rgbs"], args["t_starts"], args["t_ends"], args["packed_info"])

    with pytest.raises(TypeError, match="sigmas"):
        call(sigmas=sigmas.double())
    with pytest.raises(TypeError, match="packed_info"):
        call(packed_info=packed_info.int())
    with pytest.raises(ValueError, match="rgbs"):
        call(rgbs=rgbs[:, :2].contiguous())
    with pytest.raises(ValueError, match="t_ends"):
        call(t_ends=t_ends[1:])
    with pytest.raises(ValueError, match="packed_info"):
        call(packed_info=torch.zeros(3, 3, dtype=torch.int64, device=device))
    with pytest.raises(ValueError, match="contiguous"):
        call(rgbs=torch.zeros(3, rgbs.shape[0], device=device).T)
    with pytest.raises(ValueError, match=r"early_stop_eps' must be in \[0, 1\], got -1"):
        volume_render(sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps=-1.0)
    with pytest.raises(ValueError, match="alpha_threshold"):
        volume_render(sigmas, rgbs, t_starts, t_ends, packed_info, alpha_threshold=float("nan"))


def test_packed_info_outside_the_samples(device):
    sigmas, rgbs, t_starts, t_ends, packed_info = packed_batch(10, device, seed=8)
    outside = torch.tensor([[0, 2], [sigmas.shape[0] - 1, 2], [-1, 1]], device=device)
    if device.type == "cpu":
        with pytest.raises(ValueError, match="packed_info"):
            volume_render(sigmas, rgbs, t_starts, t_ends, outside)
    else:  # no device sync to check: the kernels skip such rays
        out = volume_render(sigmas, rgbs, t_starts, t_ends, outside)
        assert out.opacity[0] > 0 and (out.opacity[1:] == 0).all()
