"""Rendering an SDF field by sphere tracing (render.py, the viewer): shaded by its normals, a preview of the
surface with no colour. Neural SDFs are not exact distances, so each step moves a fraction of the reported one."""
import torch

from fields.ops.ray_aabb import ray_aabb_intersect
from fields.render.camera import PinholeCamera


@torch.no_grad()
def sphere_trace(field, origins: torch.Tensor, directions: torch.Tensor, max_steps: int = 96,
                 epsilon: float = 1e-3, step_scale: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """Finds the first zero of ``field.sdf`` along rays, within the field's box.

    Args:
        field: an SDF field; origins: [N, 3] float32; directions: [N, 3] float32 unit directions.
        max_steps: iterations at most; epsilon: |sdf| below which a ray has hit.
        step_scale: steps are this times the signed distance (a learned SDF is not an exact distance).

    Returns:
        (t [N] float32 distance along each ray, hit [N] bool).
    """
    t_near, t_far, box_hit = ray_aabb_intersect(origins, directions, field.aabb)
    t = t_near.clone()
    active = box_hit.clone()
    hit = torch.zeros_like(active)
    for _ in range(max_steps):
        if not active.any():
            break
        index = active.nonzero()[:, 0]
        distance = field.sdf(origins[index] + t[index, None] * directions[index])
        converged = distance.abs() < epsilon
        hit[index[converged]] = True
        t[index] += step_scale * distance * ~converged
        active[index] = ~converged & (t[index] < t_far[index])
    return t, hit


@torch.no_grad()
def sdf_normals(field, points: torch.Tensor, step: float = 1e-3) -> torch.Tensor:
    """Unit normals [N, 3] at points [N, 3]: the normalised SDF gradient by central differences of size ``step``."""
    offsets = torch.eye(3, device=points.device) * step
    gradient = torch.stack([field.sdf(points + o) - field.sdf(points - o) for o in offsets], dim=-1)
    return gradient / gradient.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def render_sdf_camera(field, camera: PinholeCamera, background: float = 1.0, chunk: int = 1 << 15) -> dict:
    """An SDF field seen from ``camera``, ``chunk`` rays at a time.

    Returns:
        {"rgb": [H, W, 3] normal map 0.5 + 0.5 n on the grey ``background``, "depth": [H, W] distance along the ray
        (0 where nothing is hit), "opacity": [H, W] (1 on the surface, else 0)}, float32 on the field's device.
    """
    device = field.aabb.device
    origins, directions = camera.rays(device)
    rgb = torch.full((origins.shape[0], 3), float(background), device=device)
    depth = torch.zeros(origins.shape[0], device=device)
    for first in range(0, origins.shape[0], chunk):
        o, d = origins[first:first + chunk], directions[first:first + chunk]
        t, hit = sphere_trace(field, o, d)
        index = first + hit.nonzero()[:, 0]
        normals = sdf_normals(field, o[hit] + t[hit, None] * d[hit])
        rgb[index] = 0.5 + 0.5 * normals
        depth[index] = t[hit]
    h, w = camera.height, camera.width
    return {"rgb": rgb.reshape(h, w, 3), "depth": depth.reshape(h, w), "opacity": (depth > 0).float().reshape(h, w)}


@torch.no_grad()
def render_sdf_rays(field, origins: torch.Tensor, directions: torch.Tensor, background: float = 1.0,
                    max_steps: int = 64) -> dict:
    """The viewer's shading of [N] rays: grey material under a headlight and some ambient light. Returns rgb
    [N, 3], depth [N] (0 where nothing is hit), opacity [N] and normals [N, 3]."""
    t, hit = sphere_trace(field, origins, directions, max_steps=max_steps)
    n = origins.shape[0]
    normals = torch.zeros(n, 3, device=origins.device)
    if hit.any():
        normals[hit] = sdf_normals(field, origins[hit] + t[hit, None] * directions[hit])
    lambert = (-(normals * directions).sum(-1)).clamp_min(0.0)
    shade = (0.25 + 0.7 * lambert)[:, None].expand(n, 3)
    rgb = torch.where(hit[:, None], shade, torch.full_like(shade, background))
    return {"rgb": rgb, "depth": torch.where(hit, t, torch.zeros_like(t)), "opacity": hit.float(),
            "normals": normals}
