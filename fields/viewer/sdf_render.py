"""Sphere tracing of a signed distance field (``sdf(x)`` in world units), with normals by central differences.

Neural SDFs are not exact distances, so each step moves a fraction (``step_scale``) of the reported distance."""
import torch


def ray_box(origins: torch.Tensor, directions: torch.Tensor, aabb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances [N] of rays through the box (near >= 0); near >= far where a ray misses it."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (aabb[:3] - origins) / safe
    t1 = (aabb[3:] - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    return near, far


@torch.no_grad()
def sphere_trace(sdf, origins: torch.Tensor, directions: torch.Tensor, aabb: torch.Tensor, *, max_steps: int = 64,
                 epsilon: float = 1e-3, step_scale: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """Marches every ray until |sdf| < epsilon (a hit) or it leaves the box.
    Returns (hit [N] bool, t [N] distance along the ray, meaningful where hit)."""
    near, far = ray_box(origins, directions, aabb)
    t = near.clone()
    active = near < far
    hit = torch.zeros_like(active)
    for _ in range(max_steps):
        index = active.nonzero().squeeze(-1)
        if index.numel() == 0:
            break
        distance = sdf(origins[index] + t[index, None] * directions[index])
        converged = distance.abs() < epsilon
        hit[index[converged]] = True
        t[index] += torch.where(converged, torch.zeros_like(distance), distance * step_scale)
        active[index] = ~converged & (t[index] < far[index])
    return hit, t


@torch.no_grad()
def sdf_normals(sdf, points: torch.Tensor, h: float = 1e-3) -> torch.Tensor:
    """Unit normals [N, 3] as the normalised central-difference gradient of the SDF."""
    offsets = torch.eye(3, device=points.device, dtype=points.dtype) * h
    gradient = torch.stack([sdf(points + offsets[i]) - sdf(points - offsets[i]) for i in range(3)], dim=-1)
    return torch.nn.functional.normalize(gradient, dim=-1)


@torch.no_grad()
def render_sdf_rays(field, origins: torch.Tensor, directions: torch.Tensor, background: float = 1.0) -> dict:
    """Shaded colour (grey material, a headlight and some ambient light), depth, hit mask and normals [N, ...]."""
    hit, t = sphere_trace(field.sdf, origins, directions, field.aabb)
    n = origins.shape[0]
    normals = torch.zeros(n, 3, device=origins.device)
    if hit.any():
        normals[hit] = sdf_normals(field.sdf, origins[hit] + t[hit, None] * directions[hit])
    lambert = (-(normals * directions).sum(-1)).clamp_min(0.0)
    shade = (0.25 + 0.7 * lambert)[:, None].expand(n, 3)
    rgb = torch.where(hit[:, None], shade, torch.full_like(shade, background))
    return {"rgb": rgb, "depth": torch.where(hit, t, torch.zeros_like(t)), "opacity": hit.float(),
            "normals": normals}
