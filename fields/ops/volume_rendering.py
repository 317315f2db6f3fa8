"""Packed volume rendering: front-to-back compositing of each ray's samples into colour, opacity and depth.

Samples are *packed*: ray ``i`` owns samples ``packed_info[i, 0] .. packed_info[i, 0] + packed_info[i, 1] - 1``, in
increasing ``t`` (the layout the ray marcher produces). Rays must not share samples. For sample ``j`` of a ray::

    tau_j   = max(sigma_j, 0) * max(t_end_j - t_start_j, 0)     # optical depth; negative input is clamped
    alpha_j = 1 - exp(-tau_j)
    T_j     = exp(-sum_{k<j} tau_k)                            # transmittance, from the sum (stable)
    w_j     = T_j * alpha_j

Two rules drop samples (weight 0, no gradient):

* **alpha threshold**: a sample with ``alpha_j < alpha_threshold`` is skipped and treated as ``alpha = 0``, so it
  does not attenuate the samples behind it either.
* **early termination**: once ``T_j < early_stop_eps``, sample ``j`` and the rest of the ray contribute nothing.

Per ray: ``rgb = sum w_j c_j`` (no background: composite one yourself with ``rgb + (1 - opacity) * bg``),
``opacity = sum w_j`` and ``depth = sum w_j (t_start_j + t_end_j) / 2``, the *un-normalised* expected depth (divide by
``opacity`` for the depth of the visible surface).

Negative ``sigma`` is a caller's bug; it is clamped to 0 and gets no gradient (at exactly 0 the gradient passes, as
with ``torch.clamp``). Huge or tiny ``sigma`` give finite values and gradients. The kernels evaluate ``exp`` with
their own polynomials (a few float ulp from libm; transmittance never drops below ``exp(-87)``).
"""
from typing import NamedTuple

import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)


class VolumeRenderOutput(NamedTuple):
    rgb: torch.Tensor  # [N, 3]
    opacity: torch.Tensor  # [N]
    depth: torch.Tensor  # [N], un-normalised: sum of w_j times the sample midpoint
    weights: torch.Tensor  # [S], w_j of every sample (0 for dropped samples); not differentiable


class _VolumeRender(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps, alpha_threshold):
        rgb, opacity, depth, weights, transmittance = torch.ops.fields.volume_render_forward(
            sigmas, rgbs, t_starts, t_ends, packed_info, early_stop_eps, alpha_threshold
        )
        # The forward decides which samples count and stores their weight and transmittance; from these and the ray
        # totals the backward walks every ray once, front to back, without re-applying the rules.
        ctx.save_for_backward(
            sigmas, rgbs, t_starts, t_ends, packed_info, weights, transmittance, rgb, opacity, depth
        )
        ctx.mark_non_differentiable(weights)
        return rgb, opacity, depth, weights

    @staticmethod
    def backward(ctx, grad_rgb, grad_opacity, grad_depth, _grad_weights):
        grad_sigmas, grad_rgbs = torch.ops.fields.volume_render_backward(
            *ctx.saved_tensors, grad_rgb.contiguous(), grad_opacity.contiguous(), grad_depth.contiguous()
        )
        return (
            grad_sigmas if ctx.needs_input_grad[0] else None,
            grad_rgbs if ctx.needs_input_grad[1] else None,
            None, None, None, None, None,
        )  # fmt: skip


def volume_render(
    sigmas: torch.Tensor,
    rgbs: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    packed_info: torch.Tensor,
    *,
    early_stop_eps: float = 1e-4,
    alpha_threshold: float = 0.0,
) -> VolumeRenderOutput:
    """Composites packed samples into per-ray colour, opacity and depth (see the module docstring for the rules).

    Args:
        sigmas: [S] float32 densities (differentiable). All tensors contiguous, on one device.
        rgbs: [S, 3] float32 colours (differentiable).
        t_starts: [S] float32 start distance of each sample along its ray.
        t_ends: [S] float32 end distance of each sample.
        packed_info: [N, 2] int64 (first sample, sample count) per ray. On CPU a row outside the S samples raises
            ValueError; on CUDA (where that check would cost a device sync) such a ray renders as empty.
        early_stop_eps: stop a ray once its transmittance falls below this (0 disables the rule).
        alpha_threshold: skip samples with a smaller alpha (0 disables the rule).

    Returns:
        VolumeRenderOutput: rgb [N, 3], opacity [N], depth [N] (un-normalised) and weights [S] (0 for dropped
        samples and for samples no ray owns). Gradients flow to ``sigmas`` and ``rgbs`` from rgb, opacity and depth,
        not from ``weights`` (for inspection; the backward reads it, so do not modify it in place).
    """
    rgb, opacity, depth, weights = _VolumeRender.apply(
        sigmas, rgbs, t_starts, t_ends, packed_info, float(early_stop_eps), float(alpha_threshold)
    )
    return VolumeRenderOutput(rgb, opacity, depth, weights)


@torch.no_grad()
def contributing_samples(
    sigmas: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    packed_info: torch.Tensor,
    *,
    early_stop_eps: float = 1e-4,
    alpha_threshold: float = 0.0,
) -> torch.Tensor:
    """The samples :func:`volume_render` keeps under the same rules (neither behind the termination point nor below
    the alpha threshold). Rendering only these samples, packed in the same order, gives the same colour, opacity,
    depth and gradients: what lets a renderer evaluate the field's colour, or its gradients, only there.

    Args:
        sigmas, t_starts, t_ends: [S] float32; packed_info: [N, 2] int64; the rules: as :func:`volume_render`.

    Returns:
        [S] bool mask of the kept samples.
    """
    no_color = sigmas.new_zeros(sigmas.shape[0], 3)
    *_, transmittance = torch.ops.fields.volume_render_forward(
        sigmas.contiguous(), no_color, t_starts, t_ends, packed_info, float(early_stop_eps), float(alpha_threshold)
    )
    return transmittance >= 0  # dropped samples are marked with a negative transmittance


def volume_render_reference(
    sigmas: torch.Tensor,
    rgbs: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    packed_info: torch.Tensor,
    *,
    early_stop_eps: float = 1e-4,
    alpha_threshold: float = 0.0,
) -> VolumeRenderOutput:
    """Pure-torch twin of :func:`volume_render`, vectorised over samples; the specification the kernels are tested
    against, differentiable by autograd (``weights`` detached, like the native op)."""
    n_rays, n_samples = packed_info.shape[0], sigmas.shape[0]
    firsts, counts = packed_info.unbind(1)
    n_listed = int(counts.sum())
    listed_first = torch.cumsum(counts, 0) - counts  # where each ray starts when rays are listed back to back

    def per_sample(per_ray):
        return torch.repeat_interleave(per_ray, counts, output_size=n_listed)

    # The samples of all rays, one ray after another. The ray marcher's layout is that already; any other layout
    # (rays out of order, samples no ray owns) is gathered into it.
    marcher_layout = n_listed == n_samples and torch.equal(firsts, listed_first)
    index = None if marcher_layout else torch.arange(n_listed, device=firsts.device) + per_sample(firsts - listed_first)

    def listed(per_packed_sample):
        return per_packed_sample if index is None else per_packed_sample[index]

    ray_of = per_sample(torch.arange(n_rays, device=firsts.device))
    tau = listed(sigmas).clamp(min=0) * listed(t_ends - t_starts).clamp(min=0)
    alpha = -torch.expm1(-tau)
    kept = alpha >= alpha_threshold
    tau = torch.where(kept, tau, torch.zeros_like(tau))
    # Exclusive per-ray prefix sums: one global cumsum minus its value at each ray's first sample. In float64, so
    # that rays late in the batch (or behind a huge optical depth) keep the precision of a per-ray sum.
    tau64 = tau.double()
    before = torch.cumsum(tau64, 0) - tau64
    ray_offset = torch.cat([before, before.new_zeros(1)])[listed_first]  # the pad serves empty rays at the end
    transmittance = torch.exp(-(before - per_sample(ray_offset)).float())
    contributes = kept & (transmittance >= early_stop_eps)
    weights = torch.where(contributes, transmittance * alpha, torch.zeros_like(alpha))
    midpoints = 0.5 * listed(t_starts + t_ends)
    rgb = rgbs.new_zeros(n_rays, 3).index_add(0, ray_of, weights[:, None] * listed(rgbs))
    opacity = sigmas.new_zeros(n_rays).index_add(0, ray_of, weights)
    depth = sigmas.new_zeros(n_rays).index_add(0, ray_of, weights * midpoints)
    packed_weights = weights.detach()
    if index is not None:
        packed_weights = sigmas.new_zeros(n_samples).index_copy(0, index, packed_weights)
    return VolumeRenderOutput(rgb, opacity, depth, packed_weights)
