"""Mesh cleanup after meshing: dropping small disconnected pieces (floaters) and decimating to a face budget.

Both return (vertices, faces, source), where ``source[i]`` is the input vertex that output vertex i comes from, so
per-vertex attributes (colours) can follow: ``colors[source]``.
"""
import warnings

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components


def remove_small_components(vertices: np.ndarray, faces: np.ndarray, min_fraction: float):
    """Keeps the connected pieces with at least ``min_fraction`` of the faces of the largest piece (0 keeps all),
    and drops the vertices no kept face uses."""
    if min_fraction <= 0 or len(faces) == 0:
        return vertices, faces, np.arange(len(vertices))
    n = len(vertices)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = scipy.sparse.coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    faces_per_piece = np.bincount(labels[faces[:, 0]])
    keep = faces_per_piece[labels[faces[:, 0]]] >= min_fraction * faces_per_piece.max()
    return compact(vertices, faces[keep])


def compact(vertices: np.ndarray, faces: np.ndarray):
    """Drops unreferenced vertices and renumbers the faces."""
    used, new_faces = np.unique(faces, return_inverse=True)
    return vertices[used], new_faces.reshape(faces.shape).astype(np.int64), used


def decimate(vertices: np.ndarray, faces: np.ndarray, max_faces: int):
    """Quadric-error edge collapse (libigl's qslim) down to at most ``max_faces`` faces; unchanged when the mesh
    already fits. A kept vertex's source is the input vertex it was born from."""
    if max_faces <= 0 or len(faces) <= max_faces:
        return vertices, faces, np.arange(len(vertices))
    import igl  # imported here: only decimation needs it

    decimated, decimated_faces, _, born_from = igl.qslim(np.asfortranarray(vertices, dtype=np.float64),
                                                         np.asfortranarray(faces, dtype=np.int32), max_faces)
    kept, new_faces, used = compact(np.asarray(decimated), np.asarray(decimated_faces, dtype=np.int64))
    if len(new_faces) > max_faces:  # quadric collapse refuses edges whose collapse would break the surface
        warnings.warn(f"--max-faces {max_faces}: decimation stopped at {len(new_faces)} faces (no further edge could "
                      f"be collapsed without breaking the surface); the mesh keeps {len(new_faces)} faces")
    return kept, new_faces, np.asarray(born_from)[used]
