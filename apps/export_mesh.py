"""Export the surface of a trained radiance or SDF field as a mesh (PLY, OBJ or GLB with vertex colours).

    python apps/export_mesh.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --output lego.ply

Marching cubes on the density (radiance fields; the threshold is chosen automatically so that the mesh sits where
renders put the surface, or give --threshold) or on the zero level (SDF fields, written back in the coordinates of
the original mesh). --method tsdf / poisson go through Open3D (pip install open3d).
"""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch
import tyro

from fields.export import ExportError, export_field_mesh
from fields.export.cleanup import decimate, remove_small_components
from fields.export.colors import vertex_normals
from fields.export.open3d_meshing import poisson_reconstruction, require_open3d, tsdf_fusion
from fields.export.point_cloud import merge, points_from_view, remove_outliers
from fields.export.views import training_cameras
from fields.export.writers import MESH_FORMATS, check_output_path, write_mesh
from fields.io import run_checkpoint
from fields.train.checkpointing import load_field
from fields.train.nerf_trainer import resolve_device
from fields.train.run_checks import check_non_negative, check_positive


@dataclass
class ExportMeshConfig:
    checkpoint: Path
    """A checkpoint written by apps/train_*.py (the .safetensors file; its .json sits beside it), or its run folder."""
    output: Optional[Path] = None
    """.ply, .obj or .glb (default: <run>/export/mesh.ply)."""
    method: Literal["marching-cubes", "tsdf", "poisson"] = "marching-cubes"
    """tsdf: fuse rendered depth maps; poisson: reconstruct from a rendered point cloud (both need open3d)."""
    resolution: int = 256
    """Marching cubes: samples along the longest side of the box (512 runs in well under 8 GB)."""
    threshold: Optional[float] = None
    """Density level to mesh (radiance; default automatic), or SDF level (default 0)."""
    crop: Optional[tuple[float, float, float, float, float, float]] = None
    """Mesh only inside xmin ymin zmin xmax ymax zmax (output coordinates)."""
    min_component_fraction: float = 0.01
    """Drop disconnected pieces with fewer faces than this fraction of the largest piece (0 keeps all)."""
    max_faces: int = 0
    """Decimate to at most this many faces (0: keep all)."""
    colors: bool = True
    """Vertex colours from the colour head (radiance fields)."""
    skip_empty: bool = True
    """Evaluate the density only in and next to the occupancy grid's occupied cells (--no-skip-empty: everywhere)."""
    views: int = 100
    """tsdf / poisson: at most this many training views are rendered."""
    downscale: int = 2
    """tsdf / poisson: render the views this many times smaller than the training images."""
    data_root: Optional[Path] = None
    device: Literal["auto", "cpu", "cuda"] = "auto"


def main(config: ExportMeshConfig) -> int:
    try:
        check_positive(config, ["resolution", "views", "downscale"])
        check_non_negative(config, ["max_faces"])
        if not 0 <= config.min_component_fraction <= 1:
            raise ValueError(f"--min-component-fraction must lie in [0, 1], got {config.min_component_fraction}")
        checkpoint = run_checkpoint(config.checkpoint)
        field, grid, meta = load_field(checkpoint, resolve_device(config.device))
        output = config.output or checkpoint.resolve().parent.parent / "export" / "mesh.ply"
        if config.method == "marching-cubes":
            result = export_field_mesh(field, output, config.resolution, config.threshold, config.crop,
                                       grid if config.skip_empty else None,
                                       normalization=meta.get("normalization"),
                                       min_component_fraction=config.min_component_fraction,
                                       max_faces=config.max_faces, colors=config.colors)
            kind = "density" if field.signal == "radiance" else "SDF"
            how = "automatic" if result.threshold_was_automatic and kind == "density" else "given"
            print(f"{result.path}: {result.n_vertices} vertices, {result.n_faces} faces; {kind} level "
                  f"{result.threshold:.4g} ({how}); {'x'.join(map(str, result.resolution))} samples in "
                  f"{result.seconds['total']:.1f} s")
        else:
            export_with_open3d(config, field, grid, meta, output)
    except (ExportError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def export_with_open3d(config: ExportMeshConfig, field, grid, meta: dict, output: Path) -> None:
    if field.signal != "radiance":
        raise ExportError(f"--method {config.method} renders depth maps, which needs a radiance field; this "
                          f"checkpoint holds a {field.signal} field (use --method marching-cubes)")
    output = check_output_path(output, MESH_FORMATS)
    require_open3d()  # before rendering anything
    cameras = training_cameras(meta, field.aabb, config.data_root, config.downscale, config.views)
    step = meta["render"]["render_step_size"]
    if config.method == "tsdf":
        extent = float((field.aabb[3:] - field.aabb[:3]).max())
        vertices, faces, colors = tsdf_fusion(field, grid, cameras, step, voxel_size=extent / config.resolution)
    else:
        cloud = remove_outliers(merge(points_from_view(field, grid, camera, step) for camera in cameras))
        vertices, faces, colors = poisson_reconstruction(cloud)
    vertices, faces, source = remove_small_components(vertices, faces, config.min_component_fraction)
    vertices, faces, decimated_source = decimate(vertices, faces, config.max_faces)
    colors = colors[source][decimated_source]
    if len(faces) == 0:
        raise ExportError(f"--method {config.method} produced an empty mesh; check that the field renders the "
                          "object from the training views (apps/eval.py), or use --method marching-cubes")
    write_mesh(output, vertices, faces, colors if config.colors else None,
               vertex_normals(vertices, faces))
    print(f"{output}: {len(vertices)} vertices, {len(faces)} faces ({config.method}, {len(cameras)} views)")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main(tyro.cli(ExportMeshConfig, description=__doc__)))
