"""Meshing any trained field: sample its scalar on a grid (chunked, no seams), marching cubes once, cleanup,
vertex colours, write.

* Radiance fields: the level set of the density. With ``threshold=None`` the level is chosen automatically so that
  the mesh sits where the field's renders put the surface (see :mod:`fields.export.threshold`).
* SDF fields: the zero level set (``threshold`` offsets it: a positive value inflates the surface). SDF checkpoints
  hold their mesh normalisation (x_unit = (x_mesh - center) / scale); pass it as ``normalization`` to get the mesh
  back in the original coordinates (``crop`` is then in those coordinates too).
* Image fields have no surface and are refused.
"""
import time
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Optional

import numpy as np

from fields.export.cleanup import decimate, remove_small_components
from fields.export.colors import head_on_colors, vertex_normals
from fields.export.marching import extract_isosurface
from fields.export.threshold import automatic_density_threshold, density_summary
from fields.export.volume import VolumeGrid, occupied_cells, sample_volume
from fields.export.writers import MESH_FORMATS, ExportError, check_output_path, write_mesh


@dataclass
class MeshExport:
    path: Path
    n_vertices: int
    n_faces: int
    threshold: float  # the density level (radiance) or signed-distance level (SDF) that was meshed
    threshold_was_automatic: bool
    resolution: tuple[int, int, int]  # samples per axis
    bounds: list[float]  # the meshed box, in the output coordinates
    seconds: dict[str, float] = dataclass_field(default_factory=dict)  # time per stage


def export_field_mesh(field, output: Path, resolution: int = 256, threshold: float | None = None, crop=None,
                      grid=None, *, normalization: Optional[dict] = None, min_component_fraction: float = 0.01,
                      max_faces: int = 0, colors: bool = True, chunk: int = 1 << 18) -> MeshExport:
    """Writes the surface of ``field`` to ``output`` (.ply, .obj or .glb) and returns what was written.

    ``resolution``: samples along the longest side of the box (cells are cubic). ``threshold``: density level
    (radiance; None = automatic) or SDF level (default 0). ``crop``: (xmin, ymin, zmin, xmax, ymax, zmax), default
    the field's box. ``grid``: the radiance field's occupancy grid, optional: when given, the density is evaluated
    only in and next to its occupied cells (empty space is 0), which saves much of the time.
    ``min_component_fraction``: drop pieces smaller than this fraction of the largest (0 keeps everything).
    ``max_faces``: decimate to this many faces (0: no decimation). ``normalization``: an SDF checkpoint's
    meta["normalization"]; the mesh is then written in the original mesh coordinates.
    Raises :class:`ExportError` on bad input, before writing anything.
    """
    signal = getattr(field, "signal", None)
    if signal not in ("radiance", "sdf"):
        raise ExportError(f"cannot mesh a {signal or type(field).__name__} field: meshes come from radiance "
                          "(density) and SDF fields; an image field has no surface")
    output = check_output_path(Path(output), MESH_FORMATS)
    seconds = {}
    start = time.perf_counter()

    to_field, to_output = _coordinate_maps(signal, normalization)
    box = field.aabb.detach().cpu().numpy().astype(np.float64)
    bounds = box if crop is None else _clip_crop(np.asarray(crop, dtype=np.float64), to_field, box)
    volume_grid = VolumeGrid.covering(bounds, resolution)
    device = field.aabb.device
    if signal == "radiance":
        needed = None if grid is None else occupied_cells(grid)
        volume = sample_volume(lambda x: field.density(x)[0], volume_grid, outside=0.0, device=device, chunk=chunk,
                               needed=needed)
    else:
        volume = sample_volume(field.sdf, volume_grid, outside=float(np.abs(bounds).max() + 1.0), device=device,
                               chunk=chunk)
    seconds["sample"] = time.perf_counter() - start

    automatic = threshold is None
    level = _choose_level(signal, volume, volume_grid.spacing, threshold)
    seconds["threshold"] = time.perf_counter() - start - sum(seconds.values())
    vertices, faces = extract_isosurface(volume, level, volume_grid, inside_is_high=signal == "radiance")
    if len(faces) == 0:
        raise ExportError(_empty_mesh_message(signal, volume, volume_grid.spacing, level))
    del volume
    seconds["marching_cubes"] = time.perf_counter() - start - sum(seconds.values())

    vertices, faces, _ = remove_small_components(vertices, faces, min_component_fraction)
    vertices, faces, _ = decimate(vertices, faces, max_faces)
    normals = vertex_normals(vertices, faces)
    seconds["cleanup"] = time.perf_counter() - start - sum(seconds.values())
    vertex_colors = None
    if colors and signal == "radiance":
        vertex_colors = head_on_colors(field, vertices, normals, reach=1.5 * volume_grid.spacing)
    seconds["colors"] = time.perf_counter() - start - sum(seconds.values())

    write_mesh(output, to_output(vertices), faces, vertex_colors, normals)
    seconds["write"] = time.perf_counter() - start - sum(seconds.values())
    seconds["total"] = time.perf_counter() - start
    out_bounds = np.concatenate([to_output(bounds[:3]), to_output(bounds[3:])]).tolist()
    return MeshExport(output, len(vertices), len(faces), float(level), automatic, volume_grid.shape, out_bounds,
                      seconds)


def _coordinate_maps(signal: str, normalization: Optional[dict]):
    """(output -> field, field -> output) point maps: the identity, or an SDF's mesh normalisation."""
    if signal != "sdf" or normalization is None:
        return (lambda x: x), (lambda x: x)
    center = np.asarray(normalization["center"], dtype=np.float64)
    scale = float(normalization["scale"])
    return (lambda x: (x - center) / scale), (lambda x: x * scale + center)


def _clip_crop(crop: np.ndarray, to_field, box: np.ndarray) -> np.ndarray:
    if crop.shape != (6,):
        raise ExportError(f"crop needs 6 numbers (xmin ymin zmin xmax ymax zmax), got {crop.size}")
    lower, upper = np.maximum(to_field(crop[:3]), box[:3]), np.minimum(to_field(crop[3:]), box[3:])
    if not (upper > lower).all():
        raise ExportError(f"the crop box {crop.tolist()} does not overlap the field's box; "
                          "give xmin ymin zmin xmax ymax zmax with each max above its min, inside the scene")
    return np.concatenate([lower, upper])


def _choose_level(signal: str, volume: np.ndarray, spacing: float, threshold: Optional[float]) -> float:
    if threshold is not None:
        if signal == "radiance" and threshold <= 0:
            raise ExportError(f"a density threshold must be positive, got {threshold}")
        return float(threshold)
    if signal == "sdf":
        return 0.0
    level = automatic_density_threshold(volume, spacing)
    if level is None:
        raise ExportError("the field is transparent: no line through the box reaches 50 % opacity, so there is no "
                          f"surface to mesh ({density_summary(volume)}). Check the checkpoint, or give --threshold")
    return level


def _empty_mesh_message(signal: str, volume: np.ndarray, spacing: float, level: float) -> str:
    if signal == "sdf":
        inner = volume[1:-1, 1:-1, 1:-1]
        return (f"the SDF level {level:g} is never crossed in the box (values from {inner.min():.4g} to "
                f"{inner.max():.4g}); pass --threshold with a level between those values")
    suggestion = automatic_density_threshold(volume, spacing)
    hint = f"; try --threshold {suggestion:.4g} (the automatic choice)" if suggestion else ""
    return f"density threshold {level:g} gives an empty mesh ({density_summary(volume)}){hint}"
