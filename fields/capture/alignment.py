"""Comparing recovered cameras with known ones: similarity alignment (Umeyama) and per-camera pose errors.

SfM recovers cameras only up to a similarity (rotation, translation, scale), so recovered camera centres are first
aligned to the true ones by the least-squares similarity (Umeyama, 1991), then each camera's rotation error (the
angle of R_true^T · R_aligned) and position error (distance between centres, divided by a scene size) are measured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PoseErrors:
    rotation_deg: np.ndarray  # [N]
    position: np.ndarray  # [N], in units of the scene size given
    scale: float  # the aligning similarity's scale

    def summary(self) -> dict:
        return {"rotation_deg_mean": float(self.rotation_deg.mean()),
                "rotation_deg_max": float(self.rotation_deg.max()),
                "position_mean": float(self.position.mean()), "position_max": float(self.position.max())}


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(s, R, t) minimising sum |s R source_i + t - target_i|² for points [N, 3] (N >= 3, not all collinear)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    sign[2, 2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))  # a rotation, never a reflection
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / (source_centred**2).sum(axis=1).mean())
    return scale, rotation, target_mean - scale * rotation @ source_mean


def pose_errors(recovered_c2w: np.ndarray, true_c2w: np.ndarray, scene_size: float) -> PoseErrors:
    """Errors of recovered camera-to-world matrices [N, 4, 4] against true ones (same camera axes convention)."""
    scale, rotation, translation = umeyama(recovered_c2w[:, :3, 3], true_c2w[:, :3, 3])
    aligned_centres = scale * recovered_c2w[:, :3, 3] @ rotation.T + translation
    aligned_rotations = rotation[None] @ recovered_c2w[:, :3, :3]
    relative = np.transpose(true_c2w[:, :3, :3], (0, 2, 1)) @ aligned_rotations
    cos = (np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0
    sin = 0.5 * np.linalg.norm(np.stack([relative[:, 2, 1] - relative[:, 1, 2], relative[:, 0, 2] - relative[:, 2, 0],
                                         relative[:, 1, 0] - relative[:, 0, 1]], axis=1), axis=1)
    position = np.linalg.norm(aligned_centres - true_c2w[:, :3, 3], axis=1) / scene_size
    return PoseErrors(np.degrees(np.arctan2(sin, cos)), position, scale)  # accurate near 0, unlike arccos
