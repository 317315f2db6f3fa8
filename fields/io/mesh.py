"""Minimal Wavefront OBJ reading (vertex positions and triangle faces), enough for test meshes like the bunny."""
from pathlib import Path

import torch


def load_obj(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices float32 [V, 3] and 0-based triangle faces int64 [F, 3] of an OBJ file ("f a b c" or "f a/t/n ...")."""
    vertices, faces = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            vertices.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return torch.tensor(vertices, dtype=torch.float32), torch.tensor(faces, dtype=torch.int64)
