"""Rendering teacher and student at the same sample points, the condition for PVD's point-wise losses.

The rays are marched once through the occupancy grid (the teacher's, which the student inherits); both fields are
then queried at those points and composited with the native volume renderer.
"""
from dataclasses import dataclass

import torch

from fields.distill.losses import PointOutputs
from fields.ops.volume_rendering import volume_render
from fields.render import RaySamples


@dataclass
class SharedSamples:
    samples: RaySamples
    positions: torch.Tensor  # [S, 3] sample midpoints
    directions: torch.Tensor  # [S, 3] unit view direction of each sample

    @classmethod
    def march(cls, grid, origins: torch.Tensor, directions: torch.Tensor, render_step_size: float,
              cone_angle: float) -> "SharedSamples":
        samples = grid.sample(origins, directions, render_step_size=render_step_size, cone_angle=cone_angle,
                              stratified=True)
        ray_dirs = directions[samples.ray_indices]
        t_mid = 0.5 * (samples.t_starts + samples.t_ends)
        return cls(samples, origins[samples.ray_indices] + ray_dirs * t_mid[:, None], ray_dirs)

    def __len__(self) -> int:
        return int(self.samples.t_starts.shape[0])


def render_at(field, shared: SharedSamples, background: torch.Tensor) -> PointOutputs:
    """The field's features, raw density and colour at the shared samples, and its rendered colour per ray on
    ``background`` [N, 3]."""
    sigma, h = field.density(shared.positions)
    point_rgb = field.color(h, shared.directions)
    s = shared.samples
    out = volume_render(sigma, point_rgb.contiguous(), s.t_starts, s.t_ends, s.packed_info)
    ray_rgb = out.rgb + (1.0 - out.opacity)[:, None] * background
    return PointOutputs(h=h, raw_density=h[:, 0] + field.density_bias, point_rgb=point_rgb, ray_rgb=ray_rgb,
                        weights=out.weights)
