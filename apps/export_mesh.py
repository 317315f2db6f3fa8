"""Export the surface of a trained radiance or SDF field as a mesh (PLY, OBJ or GLB with vertex colours).

    python apps/export_mesh.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors --output lego.ply

Marching cubes on the density (radiance fields; the threshold is chosen automatically so that the mesh sits where
renders put the surface, or give --threshold) or on the zero level (SDF fields, written back in the coordinates of
the original mesh). --method tsdf / poisson go through Open3D (pip install open3d).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from fields.export import ExportError, export_field_mesh
from fields.export.open3d_meshing import export_open3d_mesh, require_open3d
from fields.export.views import RenderedViewsOptions
from fields.export.writers import MESH_FORMATS, check_output_path
from fields.run import (RunFolder, check_non_negative, check_positive, checkpoint_path, load_field, resolve_device,
                        run_app, user_errors)


@dataclass
class ExportMeshConfig(RenderedViewsOptions):
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
    """Decimate to at most this many faces (0: keep all); a warning says so when the surface cannot go that low."""
    colors: bool = True
    """Vertex colours from the colour head (radiance fields)."""
    skip_empty: bool = True
    """Evaluate the density only in and next to the occupancy grid's occupied cells (--no-skip-empty: everywhere)."""


@torch.no_grad()  # rendering only
def main(config: ExportMeshConfig) -> int:
    with user_errors(ExportError, FileNotFoundError, ValueError):
        check_positive(config, ["resolution", "views", "downscale"])
        check_non_negative(config, ["max_faces"])
        if not 0 <= config.min_component_fraction <= 1:
            raise ValueError(f"--min-component-fraction must lie in [0, 1], got {config.min_component_fraction}")
        checkpoint = checkpoint_path(config.checkpoint)
        field, grid, meta = load_field(checkpoint, resolve_device(config.device))
        output = config.output or RunFolder.of(checkpoint).file("export") / "mesh.ply"
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
            return 0
        if field.signal != "radiance":
            raise ExportError(f"--method {config.method} renders depth maps, which needs a radiance field; this "
                              f"checkpoint holds a {field.signal} field (use --method marching-cubes)")
        output = check_output_path(output, MESH_FORMATS)
        require_open3d()  # before rendering anything
        cameras = config.cameras(meta, field.aabb)
        n_vertices, n_faces = export_open3d_mesh(config.method, field, grid, cameras,
                                                 meta["render"]["render_step_size"], output, config.resolution,
                                                 config.min_component_fraction, config.max_faces, config.colors)
    print(f"{output}: {n_vertices} vertices, {n_faces} faces ({config.method}, {len(cameras)} views)")
    return 0


if __name__ == "__main__":
    run_app(main, ExportMeshConfig, __doc__)
