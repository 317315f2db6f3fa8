"""Vertex colours of a mesh from a radiance field's colour head.

View directions: each vertex is seen head-on, by a ray travelling along its inward normal (d = -n, a camera
outside the surface looking straight at it). The colour is volume-rendered along a short segment of that ray,
from ``reach`` outside the vertex to ``reach`` inside it, so it is the colour a render would show at that spot
rather than the colour head's value at one point that may sit just outside the surface.
"""
import numpy as np
import torch


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals [V, 3]: area-weighted means of the normals of the faces around each vertex."""
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # length = 2 * area
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


@torch.no_grad()
def head_on_colors(field, vertices: np.ndarray, normals: np.ndarray, reach: float, samples: int = 8,
                   chunk: int = 1 << 14) -> np.ndarray:
    """float32 [V, 3] colours in [0, 1] of a radiance field at vertices with outward unit normals (see the module
    docstring); ``reach`` is in world units (a voxel or two)."""
    device = field.aabb.device
    offsets = reach * (1.0 - 2.0 * (torch.arange(samples, device=device) + 0.5) / samples)  # +reach .. -reach
    step = 2.0 * reach / samples
    colors = []
    for first in range(0, len(vertices), chunk):
        v = torch.as_tensor(vertices[first:first + chunk], dtype=torch.float32, device=device)
        n = torch.as_tensor(normals[first:first + chunk], dtype=torch.float32, device=device)
        points = v[:, None, :] + offsets[None, :, None] * n[:, None, :]  # [B, S, 3], outside to inside
        directions = (-n)[:, None, :].expand_as(points)
        sigma, rgb = field(points.reshape(-1, 3), directions.reshape(-1, 3))
        alpha = 1.0 - torch.exp(-sigma.reshape(-1, samples) * step)
        transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1]], dim=1), dim=1)
        weights = alpha * transmittance
        total = weights.sum(dim=1, keepdim=True)
        rgb = rgb.reshape(-1, samples, 3)
        blended = (weights[..., None] * rgb).sum(dim=1) / total.clamp_min(1e-6)
        # Where the segment is nearly transparent (thin or faint surface), the colour at the vertex itself.
        colors.append(torch.where(total > 1e-3, blended, rgb[:, samples // 2]).clamp(0.0, 1.0))
    return torch.cat(colors).cpu().numpy().astype(np.float32) if colors else np.zeros((0, 3), np.float32)
