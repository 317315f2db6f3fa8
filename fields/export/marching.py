"""Marching cubes (scikit-image, Lewiner) on a sampled volume, returning an outward-oriented mesh in world
coordinates."""
import numpy as np
from skimage.measure import marching_cubes

from fields.export.volume import VolumeGrid


def extract_isosurface(volume: np.ndarray, level: float, grid: VolumeGrid, inside_is_high: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float64 [V, 3] (world) and faces int64 [F, 3] of the ``level`` set of a padded ``volume`` (as
    :func:`fields.export.volume.sample_volume` returns it). Faces wind counter-clockwise seen from outside, so their
    normals point out of the object: out of high values (densities) when ``inside_is_high``, out of low values
    (signed distances) otherwise. The surface is closed at the box faces. Both arrays are empty when the level is
    not crossed."""
    if not volume.min() < level < volume.max():
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    vertices, faces, _, _ = marching_cubes(volume, level=level, spacing=(grid.spacing,) * 3,
                                           gradient_direction="ascent" if inside_is_high else "descent",
                                           allow_degenerate=False)
    origin = grid.lower - grid.spacing  # the padding layer sits one cell before grid.lower
    # Where the surface is closed against the padding, put the cap on the box face rather than a fraction of a cell
    # beyond it (the mesh stays inside the box or crop asked for).
    vertices = np.clip(vertices.astype(np.float64) + origin, grid.lower, grid.upper)
    return vertices, faces.astype(np.int64)
