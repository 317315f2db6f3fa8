"""Rasterizer throughput in pixels per second: the Stanford bunny (4968 triangles, from the shared data) or, when that
file is missing, a generated UV sphere of ~100k triangles, framed so its bounding sphere fills the view.

The brute-force reference tests every pixel against every triangle, so its cost per pixel does not depend on the
image size; the native op costs roughly per triangle plus per covered pixel. Both columns of a case always render
the same image: 512x512 on CUDA, and on the CPU 64x64, where the reference takes seconds (at 512x512 it takes
minutes). ``python -m bench.op_cases.rasterize`` times the native op alone at 512x512.
"""
import math
from pathlib import Path

import torch

from bench.op_cases import Case
from bench.timing import best_time
from fields.io.mesh import load_obj
from fields.ops import rasterize, rasterize_reference

BUNNY = Path(__file__).resolve().parents[3] / "shared" / "data" / "sdf" / "bunny.obj"




def uv_sphere(rings: int = 158, segments: int = 316) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit UV sphere with 2 * segments * (rings - 1) triangles (99 224 by default)."""
    theta = torch.linspace(0, math.pi, rings + 1)[1:-1]
    phi = torch.arange(segments) * (2 * math.pi / segments)
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring_points = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], dim=-1).reshape(-1, 3)
    vertices = torch.cat([ring_points, torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])])
    top, bottom = len(ring_points), len(ring_points) + 1
    idx = torch.arange(len(ring_points)).reshape(rings - 1, segments)
    nxt = idx.roll(-1, dims=1)
    bands = torch.cat([torch.stack([idx[:-1], idx[1:], nxt[1:]], -1), torch.stack([idx[:-1], nxt[1:], nxt[:-1]], -1)])
    caps = torch.cat([
        torch.stack([torch.full_like(idx[0], top), idx[0], nxt[0]], -1),
        torch.stack([torch.full_like(idx[-1], bottom), nxt[-1], idx[-1]], -1),
    ])
    return vertices, torch.cat([bands.reshape(-1, 3), caps])


def scene(device):
    """(name, vertices, faces, colours, c2w, focal-for-a-1-pixel-wide-image) of the benchmark mesh."""
    if BUNNY.exists():
        name, (vertices, faces) = "bunny", load_obj(BUNNY)
    else:
        name, (vertices, faces) = "uv sphere", uv_sphere()
    low, high = vertices.min(0).values, vertices.max(0).values
    center = (low + high) / 2
    radius = (vertices - center).norm(dim=1).max().item()
    distance = 3.0 * radius
    back = torch.nn.functional.normalize(torch.tensor([0.6, 0.3, 0.75]), dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), back), dim=0)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, torch.linalg.cross(back, right), back, center + distance * back
    unit_focal = 0.5 / math.tan(1.05 * math.asin(radius / distance))
    colors = (vertices - low) / (high - low)
    return name, vertices.to(device), faces.to(device), colors.to(device), c2w, unit_focal


def cases(device):
    name, vertices, faces, colors, c2w, unit_focal = scene(device)
    size = 512 if device.type == "cuda" else 64
    args = (vertices, faces, colors, c2w, (unit_focal * size, unit_focal * size, size / 2, size / 2), size, size)
    return [
        Case(f"rasterize {name} ({faces.shape[0]} tris), {size}x{size}", lambda: rasterize(*args),
             lambda: rasterize_reference(*args), size * size, "pixels"),
    ]


def main() -> None:
    """Native op alone at 512x512 and 1024x1024 on the CPU (its reference would take minutes per image)."""
    name, vertices, faces, colors, c2w, unit_focal = scene(torch.device("cpu"))
    for size in (512, 1024):
        args = (vertices, faces, colors, c2w, (unit_focal * size, unit_focal * size, size / 2, size / 2), size, size)
        seconds = best_time(lambda: rasterize(*args), repeats=10)
        covered = (rasterize(*args).triangle_id >= 0).float().mean().item()
        print(f"rasterize {name} ({faces.shape[0]} tris), {size}x{size}, CPU {torch.get_num_threads()} threads: "
              f"{seconds * 1e3:.2f} ms, {size * size / seconds:.4g} pixels/s, {covered:.0%} of pixels covered")


if __name__ == "__main__":
    main()
