"""Export a coloured, oriented point cloud (binary PLY) from a radiance field's rendered depth of the training views.

    python apps/export_pointcloud.py --checkpoint outputs/lego/hash/RUN/checkpoints/latest.safetensors \
        --output lego_points.ply --num-points 1000000

Every pixel that renders at least 90 % opaque becomes a point at its expected depth, with its colour and a normal
from the depth map (facing the camera); statistical outliers are removed; at most --num-points are kept.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from fields.export import ExportError
from fields.export.point_cloud import export_point_cloud
from fields.export.views import RenderedViewsOptions
from fields.export.writers import check_output_path
from fields.run import RunFolder, check_positive, checkpoint_path, load_field, resolve_device, run_app, user_errors


@dataclass
class ExportPointCloudConfig(RenderedViewsOptions):
    checkpoint: Path
    """A radiance-field checkpoint written by apps/train_nerf.py, or its run folder."""
    output: Optional[Path] = None
    """A .ply file (default: <run>/export/points.ply)."""
    num_points: int = 1_000_000
    """At most this many points are written (a random subset when more pixels are opaque)."""
    min_opacity: float = 0.9
    """Pixels rendered less opaque than this give no point."""
    outlier_std: float = 2.0
    """Drop points whose mean distance to their 16 neighbours is this many standard deviations above the mean."""


@torch.no_grad()  # rendering only
def main(config: ExportPointCloudConfig) -> int:
    with user_errors(ExportError, FileNotFoundError, ValueError):
        check_positive(config, ["num_points", "views", "downscale", "outlier_std"])
        if not 0 <= config.min_opacity <= 1:
            raise ValueError(f"--min-opacity must lie in [0, 1], got {config.min_opacity}")
        checkpoint = checkpoint_path(config.checkpoint)
        field, grid, meta = load_field(checkpoint, resolve_device(config.device))
        if field.signal != "radiance":
            raise ExportError(f"{config.checkpoint} holds a {field.signal} field; point clouds come from rendered "
                              "depth of radiance fields (for an SDF field use apps/export_mesh.py)")
        output = check_output_path(config.output or RunFolder.of(checkpoint).file("export") / "points.ply", (".ply",))
        cameras = config.cameras(meta, field.aabb)
        written, rendered = export_point_cloud(field, grid, cameras, meta["render"]["render_step_size"], output,
                                               config.num_points, config.min_opacity, config.outlier_std)
    print(f"{output}: {written} points ({rendered} opaque pixels in {len(cameras)} views; outliers removed)")
    return 0


if __name__ == "__main__":
    run_app(main, ExportPointCloudConfig, __doc__)
