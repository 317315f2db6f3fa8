"""One renderer per signal, all through the field contract: radiance fields by volume rendering
(:func:`render_camera`), SDF fields by sphere tracing, image fields as a texture for a plane in the scene.

A frame is rendered in horizontal strips so that a render thread can share the field with training (each strip
runs under the training lock) and give up a stale frame between strips (:class:`RenderInterrupted`).

A frame takes one of two *paths*: "field" renders the field itself; "preview" (radiance fields, while the camera
moves) renders a bake of it (:mod:`fields.viewer.preview_bake`), many times faster. ``prepare(moving)`` picks the
path of the next frame and brings the bake up to date."""
import contextlib
import threading
import time
from typing import Callable

import numpy as np
import torch

from fields.render.camera import PinholeCamera, render_camera
from fields.viewer.preview_bake import BakedRadiance, bake_radiance
from fields.render.sphere_tracing import render_sdf_rays

STRIP_RAYS = 1 << 14
# Five anchors of a perceptually ordered dark-blue -> yellow colormap for depth.
DEPTH_COLORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32)


class RenderInterrupted(Exception):
    """The frame went stale (the camera moved) before it was finished."""


def strip_cameras(camera: PinholeCamera, strip_rays: int = STRIP_RAYS):
    """(first row, camera of rows [first, first + n)) covering the image top to bottom."""
    rows = max(1, strip_rays // camera.width)
    for top in range(0, camera.height, rows):
        n = min(rows, camera.height - top)
        yield top, PinholeCamera(camera.c2w, camera.width, n, camera.fx, camera.fy, camera.cx, camera.cy - top)


def colorize(out: dict, mode: str, background: float = 1.0) -> np.ndarray:
    """uint8 [H, W, 3] picture of one render output."""
    mask = out["opacity"] > 0.5
    if mode == "rgb":
        image = out["rgb"].clamp(0, 1)
    elif mode == "opacity":
        image = out["opacity"].clamp(0, 1)[..., None].expand(*mask.shape, 3)
    elif mode == "normals":
        image = torch.where(mask[..., None], out["normals"] * 0.5 + 0.5, torch.full_like(out["normals"], background))
    elif mode == "depth":
        depth = out["depth"]
        valid = depth[mask]
        lo, hi = (valid.min(), valid.max()) if valid.numel() else (depth.new_tensor(0.0), depth.new_tensor(1.0))
        position = ((depth - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1).cpu().numpy() * (len(DEPTH_COLORS) - 1)
        index = np.minimum(position.astype(np.int64), len(DEPTH_COLORS) - 2)
        frac = (position - index)[..., None]
        colored = DEPTH_COLORS[index] * (1 - frac) + DEPTH_COLORS[index + 1] * frac
        colored[~mask.cpu().numpy()] = 255.0 * background
        return colored.round().astype(np.uint8)
    else:
        raise ValueError(f"unknown render mode {mode!r}")
    return (image.float().cpu().numpy() * 255.0).round().astype(np.uint8)


class _StripRenderer:
    """Shared strip loop; subclasses render one strip camera into a dict of [h, w, ...] tensors."""
    modes: tuple[str, ...]

    def prepare(self, moving: bool, *, guard: Callable = contextlib.nullcontext, version=0) -> str:
        """The path of the next frame; only radiance fields have another one than the field itself."""
        return "field"

    def render(self, camera: PinholeCamera, mode: str = "rgb", *, guard: Callable = contextlib.nullcontext,
               should_stop: Callable[[], bool] = lambda: False, strip_rays: int = STRIP_RAYS,
               path: str = "field") -> np.ndarray:
        """uint8 [H, W, 3] of ``mode`` along ``path`` (as :meth:`prepare` chose it). ``guard()`` is entered around
        every strip (the training lock); ``should_stop()`` is asked between strips and raises
        :class:`RenderInterrupted` when true."""
        if mode not in self.modes:
            raise ValueError(f"render mode {mode!r} is not available for this field; choose one of {self.modes}")
        parts = []
        for _, strip in strip_cameras(camera, strip_rays):
            if should_stop():
                raise RenderInterrupted()
            with guard():
                parts.append(self.render_strip(strip, path))
        out = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        return colorize(out, mode, self.background)


class RadianceRenderer(_StripRenderer):
    """Volume renders the field; while the camera moves (and ``fast_preview`` is on) a bake of it at
    ``preview_resolution``³ (see :func:`bake_radiance` for ``preview_directions``). The bake follows a training
    field: it is rebuilt when the field version changed, at most every ``rebake_seconds``, lazily (when a moving
    frame needs it) in the render thread."""
    modes = ("rgb", "depth", "opacity")

    def __init__(self, field, grid, render_step_size: float = 5e-3, cone_angle: float = 0.0,
                 background: float = 1.0, *, preview_resolution: int = 128,
                 preview_directions: torch.Tensor | None = None, rebake_seconds: float = 5.0):
        self.field, self.grid = field, grid
        self.render_step_size, self.cone_angle, self.background = render_step_size, cone_angle, background
        self.preview_resolution, self.preview_directions = preview_resolution, preview_directions
        self.rebake_seconds = rebake_seconds
        self.fast_preview = True  # the GUI's "fast preview while moving"
        self.preview: BakedRadiance | None = None
        self._baked_at = 0.0
        self._bake_lock = threading.Lock()  # one bake at a time, however many browsers' render threads ask

    def prepare(self, moving: bool, *, guard: Callable = contextlib.nullcontext, version=0) -> str:
        """"preview" for a moving frame when ``fast_preview`` is on (baking first when the bake is missing or
        stale), else "field". ``version`` identifies the field's state (the training step)."""
        if not (moving and self.fast_preview):
            return "field"
        with self._bake_lock:
            if self._preview_stale(version):
                self.preview = bake_radiance(self.field, self.grid, self.preview_resolution,
                                             directions=self.preview_directions, guard=guard, version=version)
                self._baked_at = time.perf_counter()
        return "preview"

    def _preview_stale(self, version) -> bool:
        if self.preview is None:
            return True
        # Training changes the field every step: re-baking at most every rebake_seconds (and at least four bakes'
        # time apart) keeps the bakes a small share of the render thread's time and of the training lock, at the
        # price of a preview a little behind the field.
        interval = max(self.rebake_seconds, 4.0 * self.preview.seconds)
        return self.preview.version != version and time.perf_counter() - self._baked_at >= interval

    def render_strip(self, camera: PinholeCamera, path: str = "field") -> dict:
        if path == "preview":
            # Steps finer than a bake voxel find no more detail in the bake: they would only cost time.
            step = max(self.render_step_size, self.preview.voxel_size)
            return self.preview.render(camera, background=self.background, step=step)
        return render_camera(self.field, self.grid, camera, background=self.background,
                             render_step_size=self.render_step_size, cone_angle=self.cone_angle)


class SdfRenderer(_StripRenderer):
    modes = ("rgb", "depth", "opacity", "normals")

    def __init__(self, field, background: float = 1.0):
        self.field, self.background = field, background

    def render_strip(self, camera: PinholeCamera, path: str = "field") -> dict:
        origins, directions = camera.rays(self.field.aabb.device)
        out = render_sdf_rays(self.field, origins, directions, self.background)
        shape = (camera.height, camera.width)
        return {key: value.reshape(*shape, *value.shape[1:]) for key, value in out.items()}


class ImageRenderer:
    """Image fields are not rendered per camera: their picture is a texture on a plane in the 3D scene."""
    modes = ("rgb",)

    def __init__(self, field, max_size: int = 1024):
        self.field, self.max_size = field, max_size

    @torch.no_grad()
    def texture(self) -> np.ndarray:
        """uint8 [H, W, 3] at the field's resolution (long side capped at ``max_size``)."""
        scale = min(1.0, self.max_size / max(self.field.height, self.field.width))
        height, width = max(1, round(self.field.height * scale)), max(1, round(self.field.width * scale))
        image = self.field.render(height, width)
        image = image[..., :3] if image.shape[-1] >= 3 else image[..., :1].expand(height, width, 3)
        return (image.float().cpu().numpy() * 255.0).round().astype(np.uint8)


def make_renderer(field, grid=None, render_options: dict | None = None, **preview_options):
    """The renderer for ``field``'s signal; ``render_options`` (radiance only) as stored in checkpoints,
    ``preview_options`` the :class:`RadianceRenderer` preview's (radiance only)."""
    if field.signal == "radiance":
        if grid is None:
            raise ValueError("a radiance field needs its occupancy grid to be rendered (it is in the checkpoint)")
        return RadianceRenderer(field, grid, **(render_options or {}), **preview_options)
    if field.signal == "sdf":
        return SdfRenderer(field)
    if field.signal == "image":
        return ImageRenderer(field)
    raise ValueError(f"the viewer cannot render {field.signal!r} fields")
