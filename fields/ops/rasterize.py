"""Z-buffer triangle rasterizer (forward only) for mesh previews and mesh-versus-field comparisons.

Camera convention (NeRF / Blender, the same as the project's ray generator): ``c2w`` is camera-to-world with OpenGL
axes, the camera looks down -Z and +Y is up. Pixel (u, v) — u along the width, v along the height, row 0 at the
top — has its centre on the camera-space ray ``((u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -1)``.

Rules:

* ``depth`` is the camera-space distance along the viewing axis (-z_cam, positive in front of the camera).
* Colours are blended with perspective-correct barycentrics; the nearest triangle wins, the lower triangle id at
  equal depth.
* Near plane: only the part of a triangle at depth >= ``near`` is drawn. Triangles crossing the near plane are
  clipped exactly (per pixel), triangles wholly behind it are not drawn.
* Both windings are drawn (no back-face culling); a triangle seen exactly edge-on is not.
* Coverage: a pixel centre on an edge belongs to the triangle (inclusive test), and a shared edge is evaluated
  identically by both of its triangles, so adjacent triangles leave no cracks; the depth test then picks one.
* Background pixels: ``rgb`` 0, ``depth`` +inf, ``triangle_id`` -1 (the caller composites a background).
"""
from typing import NamedTuple, Sequence

import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)

# The reference works on blocks of pixels x triangles, to bound its memory.
_REFERENCE_PIXELS = 4096
_REFERENCE_PAIRS = 1 << 18


class RasterOutput(NamedTuple):
    rgb: torch.Tensor  # [H, W, 3] float32, 0 on the background
    depth: torch.Tensor  # [H, W] float32, +inf on the background
    triangle_id: torch.Tensor  # [H, W] int64, -1 on the background


def rasterize(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    c2w: torch.Tensor,
    intrinsics: Sequence[float],
    width: int,
    height: int,
    *,
    near: float = 1e-2,
) -> RasterOutput:
    """Rasterizes a triangle mesh with a z-buffer (no gradients; rules in the module docstring).

    Args:
        vertices: [V, 3] float32 world positions.
        faces: [F, 3] int32 or int64 vertex indices, on the vertices' device.
        colors: [V, 3] float32 per-vertex colours, on the vertices' device.
        c2w: [4, 4] float32 camera-to-world, on any device (its top 3 rows are inverted as an affine map).
        intrinsics: (fx, fy, cx, cy) in pixels, fx, fy > 0.
        width: image width in pixels.
        height: image height in pixels.
        near: near plane distance, > 0.

    Returns:
        RasterOutput: rgb [H, W, 3] float32, depth [H, W] float32, triangle_id [H, W] int64.
    """
    fx, fy, cx, cy = _unpack_intrinsics(intrinsics)
    w2c = world_to_camera(c2w).to(vertices.device)
    rgb, depth, triangle_id = torch.ops.fields.rasterize_forward(
        vertices.detach(), faces.detach(), colors.detach(), w2c, fx, fy, cx, cy, width, height, near
    )
    return RasterOutput(rgb, depth, triangle_id)


def world_to_camera(c2w: torch.Tensor) -> torch.Tensor:
    """The [3, 4] float32 world-to-camera matrix of a [4, 4] float32 camera-to-world matrix (inverted in float64)."""
    if not isinstance(c2w, torch.Tensor) or c2w.dtype != torch.float32:
        raise TypeError(f"rasterize: argument 'c2w' must be a float32 tensor, got {getattr(c2w, 'dtype', type(c2w))}")
    if c2w.shape != (4, 4):
        raise ValueError(f"rasterize: argument 'c2w' must have shape [4, 4], got {list(c2w.shape)}")
    rotation, translation = c2w[:3, :3].double(), c2w[:3, 3:].double()
    inverse, info = torch.linalg.inv_ex(rotation)
    if info.item() != 0 or not torch.isfinite(c2w[:3]).all() or not torch.isfinite(inverse).all():
        raise ValueError("rasterize: argument 'c2w' has non-finite entries or a singular rotation part")
    return torch.cat([inverse, -inverse @ translation], dim=1).float().contiguous()


def _unpack_intrinsics(intrinsics: Sequence[float]) -> tuple[float, float, float, float]:
    values = [float(x) for x in intrinsics]
    if len(values) != 4:
        raise ValueError(f"rasterize: argument 'intrinsics' must be (fx, fy, cx, cy), got {len(values)} values")
    return values[0], values[1], values[2], values[3]


def rasterize_reference(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    colors: torch.Tensor,
    c2w: torch.Tensor,
    intrinsics: Sequence[float],
    width: int,
    height: int,
    *,
    near: float = 1e-2,
) -> RasterOutput:
    """Pure-torch twin of :func:`rasterize`, brute force over every pixel and triangle; the specification the
    kernels are tested against. It evaluates the same float32 formulas in the same order as the kernels."""
    fx, fy, cx, cy = _unpack_intrinsics(intrinsics)
    device = vertices.device
    cam = _to_camera_reference(vertices, world_to_camera(c2w).to(device))
    faces = faces.long()
    # edges[e]: [F, 3] vector of the edge opposite vertex e, for every triangle.
    edges = [_edge_vector_reference(cam, faces[:, (e + 1) % 3], faces[:, (e + 2) % 3]) for e in range(3)]
    vertex_depth = [-cam[:, 2][faces[:, i]] for i in range(3)]

    ray_x = ((torch.arange(width, device=device, dtype=torch.float32) + 0.5) - cx) / fx
    ray_y = -(((torch.arange(height, device=device, dtype=torch.float32) + 0.5) - cy) / fy)
    ray_x, ray_y = ray_x.repeat(height)[:, None], ray_y.repeat_interleave(width)[:, None]  # [P, 1], row-major

    num_pixels = width * height
    nearest = [
        _nearest_hits_reference(edges, vertex_depth, ray_x[first:first + _REFERENCE_PIXELS],
                                ray_y[first:first + _REFERENCE_PIXELS], near)
        for first in range(0, num_pixels, _REFERENCE_PIXELS)
    ]
    best_depth = torch.cat([d for d, _ in nearest]) if nearest else torch.zeros(0, device=device)
    best_id = torch.cat([i for _, i in nearest]) if nearest else torch.zeros(0, dtype=torch.long, device=device)

    rgb = torch.zeros(num_pixels, 3, device=device)
    hit = best_id >= 0
    winner = best_id[hit]
    w = [_edge_weight_reference(edge[winner], ray_x[hit, 0], ray_y[hit, 0]) for edge in edges]  # 3 x [hits]
    total = (w[0] + w[1]) + w[2]
    rgb[hit] = _blend_reference([(wi / total)[:, None] for wi in w], [colors[faces[winner, i]] for i in range(3)])
    return RasterOutput(rgb.view(height, width, 3), best_depth.view(height, width), best_id.view(height, width))


def _nearest_hits_reference(edges, vertex_depth, ray_x, ray_y, near):
    """Depth [P] and id [P] of the nearest triangle hit at depth >= near by each pixel ray (+inf and -1 if none),
    the lowest id among equally near ones."""
    best_depth = torch.full((ray_x.shape[0],), float("inf"), device=ray_x.device)
    best_id = torch.full((ray_x.shape[0],), -1, dtype=torch.long, device=ray_x.device)
    step = max(1, _REFERENCE_PAIRS // ray_x.shape[0])
    for first in range(0, edges[0].shape[0], step):  # ascending ids: at equal depth the earlier (lower) id stays
        chunk = slice(first, first + step)
        w = [_edge_weight_reference(edge[chunk], ray_x, ray_y) for edge in edges]  # 3 x [P, T]
        total = (w[0] + w[1]) + w[2]
        inside = ((total > 0) & (w[0] >= 0) & (w[1] >= 0) & (w[2] >= 0)) | (
            (total < 0) & (w[0] <= 0) & (w[1] <= 0) & (w[2] <= 0)
        )
        d = _blend_reference([wi / total for wi in w], [vd[chunk] for vd in vertex_depth])
        d = torch.where(inside & (d >= near), d, torch.full_like(d, float("inf")))
        chunk_depth, chunk_index = d.min(dim=1)  # the first (lowest id) of equal minima
        better = chunk_depth < best_depth
        best_depth = torch.where(better, chunk_depth, best_depth)
        best_id = torch.where(better, chunk_index + first, best_id)
    return best_depth, best_id


def _to_camera_reference(vertices: torch.Tensor, w2c: torch.Tensor) -> torch.Tensor:
    x, y, z = vertices.unbind(-1)
    rows = [((m[0] * x + m[1] * y) + m[2] * z) + m[3] for m in w2c]
    return torch.stack(rows, dim=-1)


def _edge_vector_reference(cam: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """a x b [F, 3] for the edges (ia, ib), computed from the lower vertex index first, negated if walked backwards."""
    a, b = cam[torch.minimum(ia, ib)], cam[torch.maximum(ia, ib)]
    cross = torch.stack([
        a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
        a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
        a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
    ], dim=-1)
    return torch.where((ia < ib)[:, None], cross, -cross)


def _edge_weight_reference(edge: torch.Tensor, ray_x: torch.Tensor, ray_y: torch.Tensor) -> torch.Tensor:
    """r . edge for pixel rays r = (ray_x, ray_y, -1); edge [T, 3] broadcasts against the rays' shape."""
    return (ray_x * edge[:, 0] + ray_y * edge[:, 1]) - edge[:, 2]


def _blend_reference(weights: list[torch.Tensor], values: list[torch.Tensor]) -> torch.Tensor:
    return (weights[0] * values[0] + weights[1] * values[1]) + weights[2] * values[2]
