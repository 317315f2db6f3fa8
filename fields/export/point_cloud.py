"""Point clouds from a radiance field's rendered depth: every pixel that renders opaque becomes a point at its
expected depth, with the pixel's colour and a normal from the depth map; then outliers are removed."""
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
from scipy.spatial import cKDTree
from tqdm import tqdm

from fields.export.writers import ExportError, write_point_cloud
from fields.render.camera import PinholeCamera, render_camera


@dataclass
class PointCloud:
    points: np.ndarray  # float32 [N, 3]
    colors: np.ndarray  # float32 [N, 3] in [0, 1]
    normals: np.ndarray  # float32 [N, 3], unit, facing the camera that saw the point

    def subset(self, keep: np.ndarray) -> "PointCloud":
        return PointCloud(self.points[keep], self.colors[keep], self.normals[keep])


@torch.no_grad()
def points_from_view(field, grid, camera: PinholeCamera, render_step_size: float, cone_angle: float = 0.0,
                     min_opacity: float = 0.9) -> PointCloud:
    """The opaque pixels of one rendered view as points. Colours are un-premultiplied (rendered on black and divided
    by the opacity); normals are the cross product of the depth map's central differences, so pixels on the image
    border or next to a transparent pixel get none and are dropped."""
    out = render_camera(field, grid, camera, background=0.0, render_step_size=render_step_size,
                        cone_angle=cone_angle)
    opacity = out["opacity"].cpu()
    origins, directions = camera.rays()
    h, w = camera.height, camera.width
    depth = (out["depth"].cpu() / opacity.clamp_min(1e-6)).reshape(-1, 1)  # normalised expected depth
    points = (origins + directions * depth).reshape(h, w, 3)
    opaque = opacity >= min_opacity
    du = points[1:-1, 2:] - points[1:-1, :-2]
    dv = points[2:, 1:-1] - points[:-2, 1:-1]
    normals = torch.cross(dv, du, dim=-1)  # image v points down, u right: this order faces the camera
    length = normals.norm(dim=-1, keepdim=True)
    interior = (opaque[1:-1, 1:-1] & opaque[1:-1, 2:] & opaque[1:-1, :-2] & opaque[2:, 1:-1] & opaque[:-2, 1:-1]
                & (length[..., 0] > 0))
    normals = normals / length.clamp_min(1e-12)
    view = directions.reshape(h, w, 3)[1:-1, 1:-1]
    normals = torch.where((normals * view).sum(-1, keepdim=True) > 0, -normals, normals)  # towards the camera
    colors = (out["rgb"].cpu() / opacity.clamp_min(1e-6)[..., None]).clamp(0.0, 1.0)[1:-1, 1:-1]
    return PointCloud(points[1:-1, 1:-1][interior].numpy(), colors[interior].numpy(), normals[interior].numpy())


def merge(clouds: Iterable[PointCloud]) -> PointCloud:
    clouds = list(clouds)
    return PointCloud(*(np.concatenate([getattr(c, name) for c in clouds]).astype(np.float32)
                        for name in ("points", "colors", "normals")))


def remove_outliers(cloud: PointCloud, neighbours: int = 16, std_ratio: float = 2.0) -> PointCloud:
    """Statistical outlier removal: drops points whose mean distance to their ``neighbours`` nearest points exceeds
    the mean of that distance over the cloud by more than ``std_ratio`` standard deviations."""
    if len(cloud.points) <= neighbours:
        return cloud
    distances, _ = cKDTree(cloud.points).query(cloud.points, k=neighbours + 1)
    spread = distances[:, 1:].mean(axis=1)
    return cloud.subset(spread <= spread.mean() + std_ratio * spread.std())


def subsample(cloud: PointCloud, count: int, seed: int = 0) -> PointCloud:
    if len(cloud.points) <= count:
        return cloud
    keep = np.random.default_rng(seed).choice(len(cloud.points), size=count, replace=False)
    return cloud.subset(np.sort(keep))


def export_point_cloud(field, grid, cameras: Sequence[PinholeCamera], render_step_size: float, output,
                       num_points: int, min_opacity: float, outlier_std: float, progress: bool = True) -> tuple:
    """Renders ``cameras``, keeps at most ``num_points`` opaque pixels as points, drops outliers, writes ``output``
    (PLY). Returns (points written, opaque pixels rendered)."""
    views = tqdm(cameras, disable=not progress, unit="view", desc="rendering views")
    cloud = merge(points_from_view(field, grid, camera, render_step_size, min_opacity=min_opacity) for camera in views)
    if len(cloud.points) == 0:
        raise ExportError(f"no pixel of the {len(cameras)} views renders {min_opacity:.0%} opaque; lower "
                          "--min-opacity or check the field with apps/eval.py")
    rendered = len(cloud.points)
    cloud = remove_outliers(subsample(cloud, num_points), std_ratio=outlier_std)
    write_point_cloud(output, cloud.points, cloud.colors, cloud.normals)
    return len(cloud.points), rendered
