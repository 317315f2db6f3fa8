"""Meshes as training signals for signed distance fields.

A mesh is normalised into the box [-1, 1]^3 (centred, longest half-extent 1 - margin). Signed distances are exact
distances to the triangles with the sign from the generalised winding number (libigl's fast winding number), which
stays right on meshes with holes or several components, where a ray-parity test fails.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SURFACE_SIGMAS = (0.01, 0.002)  # near-surface samples: surface points plus Gaussian offsets of these widths


class MeshLoadError(ValueError):
    """A mesh that is missing, unreadable, empty or degenerate."""


@dataclass
class Mesh:
    vertices: np.ndarray  # [V, 3] float64
    faces: np.ndarray  # [F, 3] int64

    @property
    def bounds(self) -> np.ndarray:
        return np.stack([self.vertices.min(0), self.vertices.max(0)])


@dataclass
class Normalization:
    """x_unit = (x_mesh - center) / scale."""
    center: np.ndarray
    scale: float

    def to_json(self) -> dict:
        return {"center": [float(v) for v in self.center], "scale": float(self.scale)}

    @classmethod
    def from_json(cls, content: dict) -> "Normalization":
        return cls(np.asarray(content["center"], dtype=np.float64), float(content["scale"]))


def load_mesh(path: str | Path) -> Mesh:
    """Triangles of an OBJ, PLY, OFF, STL or GLB file (all parts merged)."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise MeshLoadError(f"mesh {path} {state}; pass --mesh PATH to an OBJ, PLY, OFF, STL or GLB file")
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as error:  # trimesh raises many types for corrupt or unknown files
        raise MeshLoadError(f"cannot read mesh {path}: {error}") from error
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64)
    if faces.size == 0:
        raise MeshLoadError(f"mesh {path} has no faces (a point cloud?); SDF fitting needs a triangle mesh")
    mesh = Mesh(np.asarray(loaded.vertices, dtype=np.float64), faces)
    extent = mesh.bounds[1] - mesh.bounds[0]
    if not np.isfinite(mesh.vertices).all():
        raise MeshLoadError(f"mesh {path} has NaN or infinite vertex coordinates")
    if extent.min() <= 1e-6 * max(extent.max(), 1e-30):
        raise MeshLoadError(f"mesh {path} is flat (extent {extent.tolist()}); a signed distance needs a volume")
    return mesh


def normalize_mesh(mesh: Mesh, margin: float = 0.1) -> tuple[Mesh, Normalization]:
    lo, hi = mesh.bounds
    center = 0.5 * (lo + hi)
    scale = 0.5 * float((hi - lo).max()) / (1.0 - margin)
    norm = Normalization(center, scale)
    return Mesh((mesh.vertices - center) / scale, mesh.faces), norm


def signed_distance(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Exact distance to the triangles, negative inside (winding number > 1/2)."""
    import igl

    distances = igl.signed_distance(points.astype(np.float64), mesh.vertices, mesh.faces,
                                     sign_type=igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER)[0]
    return np.asarray(distances)


def inside(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Boolean inside test by the generalised winding number."""
    import igl

    return np.asarray(igl.fast_winding_number(mesh.vertices, mesh.faces, points.astype(np.float64))) > 0.5


def sample_surface(mesh: Mesh, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted random points on the triangles and the face each lies on."""
    v0, v1, v2 = (mesh.vertices[mesh.faces[:, i]] for i in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(v1 - v0, v2 - v0), axis=1)
    face = rng.choice(len(areas), size=count, p=areas / areas.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    a, b, c = 1.0 - s, s * (1.0 - r2), s * r2
    points = a[:, None] * v0[face] + b[:, None] * v1[face] + c[:, None] * v2[face]
    return points, face


class SdfSamples:
    """A fixed pool of points with their exact signed distances, half near the surface and half uniform in the box;
    training draws random batches from it."""

    def __init__(self, mesh: Mesh, count: int = 1 << 19, seed: int = 0):
        rng = np.random.default_rng(seed)
        n_near = count // 2
        surface, _ = sample_surface(mesh, n_near, rng)
        sigmas = np.array(SURFACE_SIGMAS)[rng.integers(0, len(SURFACE_SIGMAS), n_near)]
        near = surface + rng.normal(size=surface.shape) * sigmas[:, None]
        uniform = rng.uniform(-1.0, 1.0, size=(count - n_near, 3))
        points = np.clip(np.concatenate([near, uniform]), -1.0, 1.0)
        self.points = torch.from_numpy(points.astype(np.float32))
        self.sdf = torch.from_numpy(signed_distance(mesh, points).astype(np.float32))

    def to(self, device) -> "SdfSamples":
        self.points, self.sdf = self.points.to(device), self.sdf.to(device)
        return self

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(self.points), (size,), generator=generator).to(self.points.device)
        return self.points[index], self.sdf[index]
