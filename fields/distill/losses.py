"""PVD's progressive stages and losses (docs/methods.md, "PVD").

Stage 1 matches the 16-d intermediate features h; stage 2 adds the point-wise (clipped) density and colour; stage 3
adds the rendered colour of every ray. Every term is PVD's ``normL2``: the Frobenius norm of the whole batch
residual, not a mean, so each term's gradient has the size of its weight whatever the magnitude of its values.
"""
from dataclasses import dataclass
from typing import Optional

import torch

RAW_DENSITY_RANGE = (-2.0, 7.0)  # PVD clips raw density to this range before exp, in teacher and student alike


@dataclass(kw_only=True)
class StageSchedule:
    """Stage boundaries as fractions of the budget (PVD: 2000 and 5000 of 30000 iterations); options of the
    converter."""

    stage1_end: float = 0.07
    """End of stage 1 (features only), as a fraction of the budget."""
    stage2_end: float = 0.17
    """End of stage 2 (adds point-wise density and colour); stage 3 adds the rendered colour."""

    def check_stages(self) -> None:
        if not 0.0 <= self.stage1_end <= self.stage2_end <= 1.0:
            raise ValueError(f"stage boundaries must satisfy 0 <= stage1_end <= stage2_end <= 1, got "
                             f"{self.stage1_end}, {self.stage2_end}")

    def stage(self, progress: float) -> int:
        if progress < self.stage1_end:
            return 1
        return 2 if progress < self.stage2_end else 3


@dataclass(kw_only=True)
class LossWeights:
    """PVD's weights of the loss terms; options of the converter."""

    feature_weight: float = 0.002
    sigma_weight: float = 0.002
    color_weight: float = 0.002
    rgb_weight: float = 1.0
    feature_decay: float = 0.995
    """The feature weight is multiplied by this every step."""


@dataclass
class PointOutputs:
    """What one field says about the shared sample points and rays of a batch."""

    h: torch.Tensor  # [S, 16] intermediate features
    raw_density: torch.Tensor  # [S] density before the exp (h[:, 0] plus the field's density bias)
    point_rgb: torch.Tensor  # [S, 3] colour of each sample
    ray_rgb: torch.Tensor  # [N, 3] rendered colour on the batch's background
    weights: torch.Tensor  # [S] compositing weight of each sample (no gradient)


def norm_l2(residual: torch.Tensor) -> torch.Tensor:
    """PVD's normL2: the Frobenius norm of the batch residual (0 for an empty batch)."""
    return residual.square().sum().add(1e-12).sqrt() if residual.numel() else residual.sum()


def clipped_density(raw_density: torch.Tensor) -> torch.Tensor:
    return torch.exp(raw_density.clamp(*RAW_DENSITY_RANGE))


def comparable_features(out: PointOutputs) -> torch.Tensor:
    """h with its density channel replaced by the clipped raw density: unbounded raw densities of empty space
    (and two fields' different density biases) must not dominate the feature loss."""
    return torch.cat([out.raw_density.clamp(*RAW_DENSITY_RANGE)[:, None], out.h[:, 1:]], dim=-1)


def distillation_loss(stage: int, step: int, student: PointOutputs, teacher: PointOutputs, weights: LossWeights,
                      points: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, dict]:
    """The stage's loss and its terms (floats, for logging). ``points`` (bool [S]) restricts the point-wise terms
    to some samples (PVD-AL's hard points); None uses all of them."""
    def at_points(t: torch.Tensor) -> torch.Tensor:
        return t if points is None else t[points]

    terms = {"feature": weights.feature_weight * weights.feature_decay**step
             * norm_l2(at_points(comparable_features(student) - comparable_features(teacher)))}
    if stage >= 2:
        terms["sigma"] = weights.sigma_weight * norm_l2(
            at_points(clipped_density(student.raw_density) - clipped_density(teacher.raw_density)))
        terms["color"] = weights.color_weight * norm_l2(at_points(student.point_rgb - teacher.point_rgb))
    if stage >= 3:
        terms["rgb"] = weights.rgb_weight * norm_l2(student.ray_rgb - teacher.ray_rgb)
    total = sum(terms.values())
    return total, {name: float(value.detach()) for name, value in terms.items()}
