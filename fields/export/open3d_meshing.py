"""Meshing through Open3D, an optional dependency imported only here: TSDF fusion of rendered depth maps, and
screened Poisson reconstruction of an oriented point cloud (see :mod:`fields.export.point_cloud`).

Poisson surfaces bulge into "blobs" where points are sparse (nerfstudio's Poisson export is known for it), so the
vertices with the lowest Poisson density (least support from points) are trimmed and the result is cut to the box of
the points.
"""
from typing import Sequence

import numpy as np
import torch

from fields.export.cleanup import decimate, remove_small_components
from fields.export.colors import vertex_normals
from fields.export.point_cloud import PointCloud, merge, points_from_view, remove_outliers
from fields.export.writers import ExportError, write_mesh
from fields.render.camera import PinholeCamera, render_camera

INSTALL_HINT = ("Open3D is not installed; this export method needs it: pip install open3d "
                "(on a headless Linux machine also: apt-get install libusb-1.0-0). "
                "Marching cubes (--method marching-cubes, the default) needs no extra package")

# OpenGL camera axes (x right, y up, looking down -z) -> Open3D's OpenCV axes (x right, y down, looking down +z).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def require_open3d():
    """The open3d module, or an :class:`ExportError` saying how to install it."""
    try:
        import open3d
    except (ImportError, OSError) as error:  # OSError: the wheel is there but a shared library (libusb) is not
        raise ExportError(f"{INSTALL_HINT} (import failed: {error})") from None
    return open3d


@torch.no_grad()
def tsdf_fusion(field, grid, cameras: Sequence[PinholeCamera], render_step_size: float, voxel_size: float,
                min_opacity: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuses the field's rendered colour and depth from ``cameras`` into a truncated signed distance volume and
    extracts its surface: (vertices [V, 3], faces [F, 3], colours [V, 3] in [0, 1])."""
    o3d = require_open3d()
    volume = o3d.pipelines.integration.ScalableTSDFVolume(
        voxel_length=voxel_size, sdf_trunc=4.0 * voxel_size,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8)
    for camera in cameras:
        out = render_camera(field, grid, camera, background=0.0, render_step_size=render_step_size)
        opacity = out["opacity"].cpu()
        _, directions = camera.rays()
        forward = -camera.c2w[:3, 2].float()
        ray_depth = out["depth"].cpu() / opacity.clamp_min(1e-6)
        axis_depth = ray_depth * (directions @ forward).reshape(camera.height, camera.width)  # Open3D wants z
        axis_depth = torch.where(opacity >= min_opacity, axis_depth, torch.zeros_like(axis_depth))
        color = (out["rgb"].cpu() / opacity.clamp_min(1e-6)[..., None]).clamp(0, 1)
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray((color.numpy() * 255).astype(np.uint8))),
            o3d.geometry.Image(np.ascontiguousarray(axis_depth.numpy().astype(np.float32))),
            depth_scale=1.0, depth_trunc=1e6, convert_rgb_to_intensity=False)
        intrinsic = o3d.camera.PinholeCameraIntrinsic(camera.width, camera.height, camera.fx, camera.fy,
                                                      camera.cx, camera.cy)
        extrinsic = np.linalg.inv(camera.c2w.double().numpy() @ _GL_TO_CV)
        volume.integrate(rgbd, intrinsic, extrinsic)
    mesh = volume.extract_triangle_mesh()
    return _arrays(mesh)


def poisson_reconstruction(cloud: PointCloud, depth: int = 9, trim_quantile: float = 0.05
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screened Poisson surface of an oriented point cloud (octree ``depth``), with the ``trim_quantile`` least
    supported vertices removed and the surface cut to the points' box: (vertices, faces, colours)."""
    o3d = require_open3d()
    points = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    points.normals = o3d.utility.Vector3dVector(cloud.normals.astype(np.float64))
    points.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64))
    mesh, support = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(points, depth=depth)
    support = np.asarray(support)
    mesh.remove_vertices_by_mask(support < np.quantile(support, trim_quantile))
    mesh = mesh.crop(points.get_axis_aligned_bounding_box())
    return _arrays(mesh)


def _arrays(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    colors = np.asarray(mesh.vertex_colors, dtype=np.float32)
    if len(colors) != len(vertices):
        colors = np.full((len(vertices), 3), 0.7, dtype=np.float32)
    return vertices, faces, colors


def export_open3d_mesh(method: str, field, grid, cameras: Sequence[PinholeCamera], render_step_size: float,
                       output, resolution: int, min_component_fraction: float, max_faces: int, colors: bool) -> tuple:
    """``method`` "tsdf" (fuse the views' depth maps in voxels of the box's longest side / ``resolution``) or
    "poisson" (reconstruct from the views' point cloud); cleaned like the marching-cubes export and written to
    ``output``. Returns (vertex count, face count)."""
    if method == "tsdf":
        extent = float((field.aabb[3:] - field.aabb[:3]).max())
        vertices, faces, vertex_colors = tsdf_fusion(field, grid, cameras, render_step_size,
                                                     voxel_size=extent / resolution)
    else:
        cloud = remove_outliers(merge(points_from_view(field, grid, camera, render_step_size) for camera in cameras))
        vertices, faces, vertex_colors = poisson_reconstruction(cloud)
    vertices, faces, source = remove_small_components(vertices, faces, min_component_fraction)
    vertices, faces, decimated_source = decimate(vertices, faces, max_faces)
    vertex_colors = vertex_colors[source][decimated_source]
    if len(faces) == 0:
        raise ExportError(f"--method {method} produced an empty mesh; check that the field renders the object from "
                          "the training views (apps/eval.py), or use --method marching-cubes")
    write_mesh(output, vertices, faces, vertex_colors if colors else None, vertex_normals(vertices, faces))
    return len(vertices), len(faces)
