"""A procedural, class-labelled shape collection written ModelNet-style (``DIR/<class>/<shape>.obj``).

Each class is a parametric solid with random proportions, a mild random deformation (taper and bend) and a random
pose (any rotation about the vertical axis, a small tilt), so shapes of one class differ but stay recognisable.
Generation is deterministic given the seed.
"""
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

MAX_TILT_DEGREES = 15.0


def _box(rng):
    return trimesh.creation.box(extents=rng.uniform(0.5, 1.0, 3))


def _sphere(rng):
    return trimesh.creation.icosphere(subdivisions=3, radius=rng.uniform(0.4, 0.6))


def _ellipsoid(rng):
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    mesh.apply_scale(np.array([rng.uniform(0.55, 0.7), rng.uniform(0.3, 0.45), rng.uniform(0.15, 0.28)]))
    return mesh


def _cylinder(rng):
    return trimesh.creation.cylinder(radius=rng.uniform(0.2, 0.4), height=rng.uniform(0.8, 1.4), sections=32)


def _cone(rng):
    return trimesh.creation.cone(radius=rng.uniform(0.3, 0.5), height=rng.uniform(0.7, 1.2), sections=32)


def _torus(rng):
    return trimesh.creation.torus(major_radius=rng.uniform(0.4, 0.55), minor_radius=rng.uniform(0.1, 0.2),
                                  major_sections=48, minor_sections=16)


def _capsule(rng):
    return trimesh.creation.capsule(height=rng.uniform(0.6, 1.0), radius=rng.uniform(0.15, 0.3), count=[24, 24])


def _pyramid(rng):
    half, height = rng.uniform(0.3, 0.5), rng.uniform(0.6, 1.1)
    base = [[-half, -half, 0.0], [half, -half, 0.0], [half, half, 0.0], [-half, half, 0.0]]
    vertices = np.array(base + [[0.0, 0.0, height]])
    faces = np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return trimesh.Trimesh(vertices, faces)


def _l_shape(rng):
    long, short, thick = rng.uniform(0.8, 1.1), rng.uniform(0.45, 0.65), rng.uniform(0.2, 0.3)
    arm = trimesh.creation.box(extents=[long, thick, thick])
    arm.apply_translation([long / 2, 0.0, 0.0])
    leg = trimesh.creation.box(extents=[thick, thick, short])
    leg.apply_translation([thick / 2, 0.0, short / 2 + thick / 2])
    return trimesh.util.concatenate([arm, leg])


def _cross(rng):
    length, thick = rng.uniform(0.8, 1.1), rng.uniform(0.15, 0.25)
    bars = [trimesh.creation.box(extents=np.roll([length, thick, thick], axis)) for axis in range(3)]
    return trimesh.util.concatenate(bars)


SHAPE_CLASSES: dict[str, Callable[[np.random.Generator], trimesh.Trimesh]] = {
    "box": _box, "sphere": _sphere, "ellipsoid": _ellipsoid, "cylinder": _cylinder, "cone": _cone, "torus": _torus,
    "capsule": _capsule, "pyramid": _pyramid, "l_shape": _l_shape, "cross": _cross,
}


def _subdivided(mesh: trimesh.Trimesh, max_edge: float = 0.1) -> trimesh.Trimesh:
    """Splits long edges so that the deformation bends flat faces instead of only moving their corners."""
    vertices, faces = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=max_edge)
    return trimesh.Trimesh(vertices, faces)


def _deform(vertices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A taper along z and a bend of x with z, each small enough to keep the class recognisable."""
    z = vertices[:, 2] - vertices[:, 2].mean()
    span = max(float(np.ptp(vertices[:, 2])), 1e-6)
    taper = 1.0 + rng.uniform(-0.2, 0.2) * z / span
    out = vertices.copy()
    out[:, :2] *= taper[:, None]
    out[:, 0] += rng.uniform(-0.15, 0.15) * (z / span) ** 2
    return out


def make_shape(name: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """One random member of class ``name`` (a key of SHAPE_CLASSES)."""
    if name not in SHAPE_CLASSES:
        raise ValueError(f"unknown shape class {name!r}; known: {', '.join(SHAPE_CLASSES)}")
    mesh = _subdivided(SHAPE_CLASSES[name](rng))
    vertices = _deform(np.asarray(mesh.vertices, dtype=np.float64), rng)
    tilt_axis = np.array([*rng.normal(size=2), 0.0])
    tilt = Rotation.from_rotvec(tilt_axis / np.linalg.norm(tilt_axis) * np.radians(rng.uniform(0, MAX_TILT_DEGREES)))
    pose = tilt * Rotation.from_euler("z", rng.uniform(0.0, 360.0), degrees=True)
    return trimesh.Trimesh(pose.apply(vertices), mesh.faces, process=False)


def write_collection(output: str | Path, per_class: int, seed: int = 0,
                     classes: tuple[str, ...] = tuple(SHAPE_CLASSES)) -> list[Path]:
    """Writes ``per_class`` random shapes of each class to ``output/<class>/<class>_<i>.obj``; returns the paths."""
    output = Path(output)
    rng = np.random.default_rng(seed)
    paths = []
    for name in classes:
        (output / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = output / name / f"{name}_{i:04d}.obj"
            make_shape(name, rng).export(path)
            paths.append(path)
    return paths
