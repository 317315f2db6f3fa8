"""Posed-image scenes: loaders (Blender / NeRF-synthetic, instant-ngp), a procedural test scene, scene search, rays."""
from fields.datasets.blender import available_splits, load_blender
from fields.datasets.capture_memory import default_downscale, resolve_downscale
from fields.datasets.errors import SceneFileMissingError, SceneFormatError, SceneNotFoundError, SceneTooLargeError
from fields.datasets.find import SYNTHETIC_SCENES, data_roots, find_scene
from fields.datasets.loader import detect_format, load_scene
from fields.datasets.ngp import load_ngp
from fields.datasets.procedural import make_procedural_scene, render_view
from fields.datasets.rays import RayBatch, RaySampler, distort, generate_rays, image_rays, pixel_grid, undistort
from fields.datasets.scene import SceneData, composite_background

__all__ = [
    "SYNTHETIC_SCENES",
    "RayBatch",
    "RaySampler",
    "SceneData",
    "SceneFileMissingError",
    "SceneFormatError",
    "SceneNotFoundError",
    "SceneTooLargeError",
    "available_splits",
    "composite_background",
    "data_roots",
    "default_downscale",
    "detect_format",
    "distort",
    "find_scene",
    "generate_rays",
    "image_rays",
    "load_blender",
    "load_ngp",
    "load_scene",
    "make_procedural_scene",
    "pixel_grid",
    "render_view",
    "resolve_downscale",
    "undistort",
]
