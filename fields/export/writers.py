"""Writing exported files safely: checking the path before any heavy work, writing to a temporary file beside the
target and renaming it into place (an error or Ctrl-C never leaves a partial file), and the mesh and point-cloud
formats."""
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from fields.run.folder import atomic_output

MESH_FORMATS = (".ply", ".obj", ".glb")


class ExportError(RuntimeError):
    """An export that cannot be done as asked; the message says what to change."""


def check_output_path(path: Path, formats: Sequence[str]) -> Path:
    """Fails early, with a clear message, on an unknown format or a folder that cannot be written; creates missing
    parent folders."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise ExportError(f"unknown output format {path.suffix or '(no extension)'!r} for {path}; "
                          f"use one of {', '.join(formats)}")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name ending in one of {', '.join(formats)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create the folder {path.parent}: {error.strerror}; choose another --output") \
            from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {path.parent} (permission denied); choose another --output")
    return path


def write_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray, colors: Optional[np.ndarray] = None,
               normals: Optional[np.ndarray] = None) -> None:
    """PLY (binary), OBJ or GLB by the extension of ``path``, with per-vertex colours (float [V, 3] in [0, 1]) and
    normals where given (GLB and PLY carry both, OBJ the colours as ``v x y z r g b``)."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_normals=normals, process=False,
                           vertex_colors=None if colors is None else _to_uint8_rgba(colors))
    suffix = path.suffix.lower()
    with atomic_output(path) as temporary:
        if suffix == ".ply":
            data = trimesh.exchange.ply.export_ply(mesh, encoding="binary", vertex_normal=normals is not None)
        elif suffix == ".obj":
            data = trimesh.exchange.obj.export_obj(mesh, include_color=colors is not None,
                                                   include_normals=normals is not None, include_texture=False)
        elif suffix == ".glb":
            data = trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh), include_normals=normals is not None)
        else:
            raise ExportError(f"unknown mesh format {suffix!r}; use one of {', '.join(MESH_FORMATS)}")
        Path(temporary).write_bytes(data.encode() if isinstance(data, str) else data)


def write_point_cloud(path: Path, points: np.ndarray, colors: np.ndarray, normals: np.ndarray) -> None:
    """Binary little-endian PLY with x y z, nx ny nz (float32) and red green blue (uint8) per point."""
    record = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
                       ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    data = np.empty(len(points), dtype=record)
    for i, name in enumerate("xyz"):
        data[name] = points[:, i]
        data["n" + name] = normals[:, i]
    for i, name in enumerate(("red", "green", "blue")):
        data[name] = _to_uint8_rgba(colors)[:, i]
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(points)}\n"
              + "".join(f"property float {name}\n" for name in ("x", "y", "z", "nx", "ny", "nz"))
              + "".join(f"property uchar {name}\n" for name in ("red", "green", "blue"))
              + "end_header\n")
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(header.encode("ascii"))
            out.write(data.tobytes())


def _to_uint8_rgba(colors: np.ndarray) -> np.ndarray:
    rgb = np.clip(np.rint(np.asarray(colors, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
