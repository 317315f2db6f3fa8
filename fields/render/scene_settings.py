"""Render settings chosen from a scene: the occupancy grid's cascade, the marching step, the cone angle and the box the
field covers (what ``--grid-levels auto --render-step-size auto --cone-angle auto`` resolve to).

Two kinds of scene (docs/methods.md, "Scene-dependent render settings"):

* **Bounded** (NeRF-synthetic / Blender scenes, and instant-ngp captures with ``aabb_scale`` 1): one grid level over
  the scene box, cone angle 0, and the step NeRF-synthetic has always been trained with, 5e-3 in its box of side 3,
  scaled with the box (an instant-ngp capture's unit cube: 5e-3 / 3, about instant-ngp's sqrt(3) / 1024).
* **Unbounded** (instant-ngp captures with ``aabb_scale`` > 1): instant-ngp's rules. The unit cube about the box
  centre holds the object of interest; the field's box is a cube of side ``2^k`` about the same centre, and the
  grid has ``k + 1`` levels, the finest over the unit cube, each coarser one twice as large, the coarsest the field's
  box. The step is ``sqrt(3) / 1024`` (1024 steps across the unit cube's diagonal) and grows with distance,
  ``t / 256`` (cone angle 1/256), so far background costs a few samples per level instead of hundreds. Unlike
  instant-ngp (128³ cells per level), the cells per level are the largest multiple of 8 per axis with which the whole
  cascade has no more cells than one 128³ level: every cell is evaluated at each of the 16 warm-up updates of the
  grid, which on a CPU would otherwise cost the levels' count times more (5 levels: 72³ each).

The field's box is at least the capture's ``aabb_scale``, and is enlarged (never shrunk) until it holds the cameras
with their own distance to the centre again behind them and most structure-from-motion points. A box that ends
just behind the cameras leaves the background seen by the cameras looking outwards nowhere to go but right in front
of them, where the other cameras see it as floaters.

**The scene's length scale.** Density is per unit of length, so the same object drawn k times smaller needs k times
the density to be as opaque, and the field's starting density (``density_bias``) and the step are only right at the
scale they were chosen for: NeRF-synthetic's box of side 3 (``REFERENCE_SIDE``). A field's box of side ``s`` gets
the density bias raised by ``ln(3 / s)``, so that the fog the untrained field fills its box with is as thick across
the box as on NeRF-synthetic; a bounded scene's step is scaled by ``s / 3``. Measured (docs/methods.md): lego's own
images and true poses written as an instant-ngp capture (the object in the unit cube, 2.4 times smaller) reached a
training PSNR of 16.1 dB after 300 steps with the bias of -1, 20.4 dB with ``-1 + ln 3``; on an unbounded capture
(box side 16) the bias from the box beat both -1 and the bias from the unit cube.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from fields.datasets.scene import SceneData

REFERENCE_SIDE = 3.0  # side of NeRF-synthetic's box: the scale the field's and renderer's defaults were set for
BOUNDED_STEP = 5e-3  # the step NeRF-synthetic has always been trained with (lego's figures depend on it)
DENSITY_BIAS = -1.0  # the radiance field's starting raw density at the reference scale
BOUNDED_RESOLUTION = 128  # cells per axis of the one level of a bounded scene; also the cascade's cell budget
UNBOUNDED_CONE_ANGLE = 1.0 / 256.0  # instant-ngp's constant for real scenes
STEPS_ACROSS_UNIT_DIAGONAL = 1024  # instant-ngp's NERF_STEPS: minimum step sqrt(3) / 1024 in the unit cube
MAX_BOX_SIDE = 128  # instant-ngp's largest aabb_scale
CAMERA_MARGIN = 2.0  # the box's half-side is at least this times each camera's distance from the centre (max norm)
POINT_QUANTILE = 0.95  # the share of SfM points the box must hold; the rest are sky, mismatches, far outliers
SFM_POINTS_FILE = "sparse_pc.ply"


@dataclass(frozen=True)
class RenderSettings:
    scene_aabb: tuple[float, ...]  # the field's box (density is zero outside it) and the grid's coarsest level
    grid_aabb: tuple[float, ...]  # the grid's finest level (level 0)
    grid_levels: int
    grid_resolution: int  # cells per axis of each level
    render_step_size: float
    cone_angle: float
    density_bias: float  # the field's starting raw density, for the size of its box
    reason: str  # one line: which rule chose these and from what

    def to_json(self) -> dict:
        return asdict(self)


def choose_render_settings(scene: SceneData, points: np.ndarray | None = None) -> RenderSettings:
    """The render settings of a scene (see the module docstring).

    Args:
        scene: the training split (its cameras, box and format).
        points: [P, 3] structure-from-motion points in world coordinates (:func:`read_sfm_points`), or None.
    """
    box = scene.aabb.double().numpy()
    centre, side = 0.5 * (box[:3] + box[3:]), float((box[3:] - box[:3]).max())
    if scene.source_format != "ngp" or side <= 1.0 + 1e-6:
        bounded = tuple(float(v) for v in box)
        return RenderSettings(bounded, bounded, 1, BOUNDED_RESOLUTION, BOUNDED_STEP * (side / REFERENCE_SIDE), 0.0,
                              density_bias_for(side),
                              f"bounded scene ({scene.source_format}, box side {side:g}): one level, cone angle 0")
    cameras = scene.c2w[:, :3, 3].double().numpy()
    camera_side = 2.0 * CAMERA_MARGIN * float(np.abs(cameras - centre).max())
    point_side = 0.0
    if points is not None and len(points) > 0:
        point_side = 2.0 * float(np.quantile(np.abs(points - centre).max(axis=1), POINT_QUANTILE))
    needed = max(side, camera_side, point_side)
    outer = float(min(2.0 ** math.ceil(math.log2(needed) - 1e-9), MAX_BOX_SIDE))
    levels = int(round(math.log2(outer))) + 1
    resolution = 8 * int(BOUNDED_RESOLUTION / levels ** (1.0 / 3.0) / 8)
    unit = np.concatenate([centre - 0.5, centre + 0.5])
    outer_box = np.concatenate([centre - 0.5 * outer, centre + 0.5 * outer])
    why = f"unbounded capture: aabb_scale {side:g}, cameras need {camera_side:.2f}"
    if points is not None:
        why += f", {100 * POINT_QUANTILE:.0f} % of {len(points)} SfM points need {point_side:.2f}"
    why += f" -> box side {outer:g}, {levels} levels of {resolution}^3, cone angle 1/256"
    return RenderSettings(tuple(float(v) for v in outer_box), tuple(float(v) for v in unit), levels, resolution,
                          math.sqrt(3.0) / STEPS_ACROSS_UNIT_DIAGONAL, UNBOUNDED_CONE_ANGLE, density_bias_for(outer),
                          why)


def density_bias_for(box_side: float) -> float:
    """The radiance field's density bias for a field's box of side ``box_side`` (see "The scene's length scale")."""
    return DENSITY_BIAS + math.log(REFERENCE_SIDE / box_side)


def read_sfm_points(scene_dir: str | Path, source_to_world=None) -> np.ndarray | None:
    """The structure-from-motion points of a capture (``sparse_pc.ply`` beside its transforms file, x y z in the
    file's coordinates) mapped into world coordinates by ``source_to_world`` [4, 4]; None when there is no such file.
    """
    path = Path(scene_dir)
    path = (path.parent if path.is_file() else path) / SFM_POINTS_FILE
    if not path.is_file():
        return None
    import trimesh  # only captures with SfM points need it

    points = np.asarray(trimesh.load(path, process=False).vertices, dtype=np.float64).reshape(-1, 3)
    if source_to_world is not None:
        transform = np.asarray(source_to_world, dtype=np.float64)
        points = points @ transform[:3, :3].T + transform[:3, 3]
    return points


def settings_for_run(scene: SceneData, scene_dir: str | Path, render_step_size="auto", cone_angle="auto",
                     grid_levels="auto", grid_resolution="auto") -> RenderSettings:
    """The trainer's settings: :func:`choose_render_settings` on ``scene`` (with the SfM points beside
    ``scene_dir``), where each option given as a number wins over the automatic value. An explicit ``grid_levels``
    also keeps the scene's own box for the field and the grid's level 0, as before automatic settings existed."""
    points = read_sfm_points(scene_dir, scene.source_to_world) if scene.source_format == "ngp" else None
    chosen = choose_render_settings(scene, points)
    explicit = []
    if grid_levels != "auto":
        box = tuple(float(v) for v in scene.aabb)
        side = max(high - low for low, high in zip(box[:3], box[3:]))
        chosen = replace(chosen, scene_aabb=box, grid_aabb=box, grid_levels=int(grid_levels),
                         density_bias=density_bias_for(side))
        explicit.append(f"grid levels {int(grid_levels)} over the scene's box")
    if grid_resolution != "auto":
        chosen = replace(chosen, grid_resolution=int(grid_resolution))
        explicit.append(f"{int(grid_resolution)}^3 cells per level")
    if render_step_size != "auto":
        chosen = replace(chosen, render_step_size=float(render_step_size))
        explicit.append(f"step {float(render_step_size):g}")
    if cone_angle != "auto":
        chosen = replace(chosen, cone_angle=float(cone_angle))
        explicit.append(f"cone angle {float(cone_angle):g}")
    return replace(chosen, reason=chosen.reason + (f"; given: {', '.join(explicit)}" if explicit else ""))
