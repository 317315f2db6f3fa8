"""Renders rays through a radiance field: occupancy-grid marching, field queries, packed compositing."""
from dataclasses import dataclass
from typing import Optional

import torch

from fields.ops.ray_marching import RaySamples, select_samples
from fields.ops.volume_rendering import contributing_samples, volume_render


@dataclass
class RenderedRays:
    rgb: torch.Tensor  # [N, 3], composited on the background
    opacity: torch.Tensor  # [N]
    depth: torch.Tensor  # [N], expected depth along the ray (un-normalised: sum of w * t)
    n_samples: int  # samples that went through the field's colour (those compositing keeps)
    n_marched: int  # samples the ray marcher placed; the density was evaluated at each
    # Only with check_finite: a 0-dim tensor, the sum of every field output, non-finite when some output is NaN/inf.
    # It stays on the device, so that reading it can wait until the caller has queued the rest of its work.
    field_sum: Optional[torch.Tensor] = None


def render_rays(
    field,
    grid,
    origins: torch.Tensor,
    directions: torch.Tensor,
    background: torch.Tensor,
    *,
    render_step_size: float,
    stratified: bool = False,
    cone_angle: float = 0.0,
    near_plane: float = 0.0,
    check_finite: bool = False,
    image_indices: Optional[torch.Tensor] = None,
) -> RenderedRays:
    """Renders rays through a radiance field. The field's colour (and, with autograd on, its gradients) is evaluated
    only at the samples compositing keeps (:func:`fields.ops.contributing_samples`); the result is what rendering
    every marched sample would give.

    Args:
        field: a radiance field (``encode``, ``density``, ``color``, ``forward`` of the field contract).
        grid: an :class:`OccupancyGrid` (anything with its ``sample`` method).
        origins: [N, 3] float32 ray origins, on the field's device.
        directions: [N, 3] float32 unit directions.
        background: [N, 3] or [3] float32 colour composited behind each ray.
        render_step_size, stratified, cone_angle, near_plane: as :func:`fields.ops.ray_marching`.
        check_finite: also return ``field_sum``, a device tensor that is finite only if every field output is: the
            compositing kernel maps a NaN density to an opaque sample instead of propagating it, so training checks
            the field's outputs themselves (a sum costs two reductions, ``isfinite(...).all()`` about ten kernels).
        image_indices: [N] int64 training image of each ray, for fields with per-image appearance codes (training
            only; None: the field's mean code).

    Returns:
        RenderedRays: rgb [N, 3] on the background, opacity [N], depth [N] (un-normalised), sample counts.
    """
    samples = grid.sample(
        origins,
        directions,
        render_step_size=render_step_size,
        near_plane=near_plane,
        cone_angle=cone_angle,
        stratified=stratified,
    )
    n_rays, n_marched = origins.shape[0], int(samples.t_starts.shape[0])
    positions = _sample_points(origins, directions, samples)
    if torch.is_grad_enabled():
        # Training: a density pass without autograd finds the samples compositing would drop (behind the early
        # termination point: half of lego's samples once the surface has formed), and only the rest go through the
        # field with gradients, as in Instant-NGP's compaction and nerfacc's estimator. Same loss, same gradients.
        # The kept samples' grid encoding (hash and rbf types) is reused from the density pass, not computed again.
        with torch.no_grad():
            encoded = field.encode(positions)
            sigmas, _ = field.density(positions, encoded)
            keep = contributing_samples(sigmas, samples.t_starts, samples.t_ends, samples.packed_info).nonzero()[:, 0]
        samples = select_samples(samples, keep)
        kept_encoded = None if encoded is None else encoded[keep]
        per_image = {} if image_indices is None else {"image_index": image_indices[samples.ray_indices]}
        sigmas, rgbs = field(positions[keep], directions[samples.ray_indices], kept_encoded, **per_image)
    else:
        # Inference: the density of every sample is needed anyway; the colour only where it can be seen.
        sigmas, h = field.density(positions)
        keep = contributing_samples(sigmas, samples.t_starts, samples.t_ends, samples.packed_info).nonzero()[:, 0]
        samples, sigmas = select_samples(samples, keep), sigmas[keep]
        rgbs = field.color(h[keep], directions[samples.ray_indices])
    out = volume_render(sigmas.contiguous(), rgbs.contiguous(), samples.t_starts, samples.t_ends, samples.packed_info)
    background = background.expand(n_rays, 3)
    rgb = out.rgb + (1.0 - out.opacity)[:, None] * background
    field_sum = (sigmas.detach().sum() + rgbs.detach().sum()) if check_finite else None
    return RenderedRays(rgb=rgb, opacity=out.opacity, depth=out.depth, n_samples=int(samples.t_starts.shape[0]),
                        n_marched=n_marched, field_sum=field_sum)


def render_rays_reference(field, grid, origins, directions, background, *, render_step_size: float,
                          cone_angle: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain way, and what :func:`render_rays` must equal: the field (density and colour) at every marched
    sample, then compositing. Arguments as :func:`render_rays`.

    Returns:
        (rgb [N, 3] on ``background``, un-normalised depth [N]).
    """
    samples = grid.sample(origins, directions, render_step_size=render_step_size, cone_angle=cone_angle)
    positions = _sample_points(origins, directions, samples)
    sigmas, rgbs = field(positions, directions[samples.ray_indices])
    out = volume_render(sigmas, rgbs.contiguous(), samples.t_starts, samples.t_ends, samples.packed_info)
    return out.rgb + (1.0 - out.opacity)[:, None] * background, out.depth


def _sample_points(origins: torch.Tensor, directions: torch.Tensor, samples: RaySamples) -> torch.Tensor:
    """World positions [S, 3] of the samples' midpoints."""
    t_mid = 0.5 * (samples.t_starts + samples.t_ends)
    return origins[samples.ray_indices] + directions[samples.ray_indices] * t_mid[:, None]


@torch.no_grad()
def render_rays_chunked(field, grid, origins, directions, background, *, chunk: int = 1 << 14, **kwargs):
    """:func:`render_rays` without gradients over many rays, ``chunk`` rays at a time (bounded memory).

    Returns:
        (rgb [N, 3], opacity [N], depth [N]) float32.
    """
    rgbs, opacities, depths = [], [], []
    for start in range(0, origins.shape[0], chunk):
        part = render_rays(field, grid, origins[start : start + chunk], directions[start : start + chunk],
                           background, **kwargs)
        rgbs.append(part.rgb)
        opacities.append(part.opacity)
        depths.append(part.depth)
    return torch.cat(rgbs), torch.cat(opacities), torch.cat(depths)
