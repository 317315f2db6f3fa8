"""Geometry metrics for SDF fields: occupancy IoU on a grid, Chamfer distance between surfaces."""
import numpy as np
import torch

from fields.datasets.mesh_sdf import Mesh, inside, sample_surface


def grid_points(resolution: int) -> np.ndarray:
    """[R^3, 3] vertex-centred points of the box [-1, 1]^3, x slowest (matches ``volume[i, j, k]``)."""
    axis = np.linspace(-1.0, 1.0, resolution)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


@torch.no_grad()
def sdf_volume(sdf_fn, resolution: int, device="cpu", chunk: int = 1 << 18) -> np.ndarray:
    """The field's signed distance on the grid of :func:`grid_points`, as [R, R, R] float32."""
    points = torch.from_numpy(grid_points(resolution).astype(np.float32))
    values = [sdf_fn(points[i:i + chunk].to(device)).float().cpu() for i in range(0, len(points), chunk)]
    return torch.cat(values).numpy().reshape(resolution, resolution, resolution)


def occupancy_iou(predicted_inside: np.ndarray, true_inside: np.ndarray) -> float:
    union = np.logical_or(predicted_inside, true_inside).sum()
    return float(np.logical_and(predicted_inside, true_inside).sum() / union) if union else 1.0


def zero_level_surface(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the zero level of an SDF volume over [-1, 1]^3: (vertices, faces); empty if no crossing."""
    from skimage.measure import marching_cubes

    if not (volume.min() < 0.0 < volume.max()):
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    spacing = 2.0 / (volume.shape[0] - 1)
    vertices, faces, _, _ = marching_cubes(volume, level=0.0, spacing=(spacing,) * 3)
    return vertices - 1.0, faces.astype(np.int64)


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance: the mean of the two mean nearest-neighbour distances (not squared)."""
    from scipy.spatial import cKDTree

    if len(a) == 0 or len(b) == 0:
        return float("inf")
    return 0.5 * float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def sample_mesh_points(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> np.ndarray:

    if len(faces) == 0:
        return np.zeros((0, 3))
    return sample_surface(Mesh(vertices, faces), count, np.random.default_rng(seed))[0]


CHAMFER_POINTS = 100_000


def evaluate_sdf(sdf_fn, mesh: Mesh, resolution: int, device, true_inside: np.ndarray | None = None,
                 chamfer_points: int = CHAMFER_POINTS) -> dict:
    """IoU of sdf < 0 against the winding-number inside test on a resolution^3 grid, and the Chamfer distance of the
    marching-cubes surface to the mesh (in normalised units, and relative to the mesh's bounding-box diagonal)."""
    volume = sdf_volume(sdf_fn, resolution, device)
    if true_inside is None:
        true_inside = inside(mesh, grid_points(resolution))
    iou = occupancy_iou(volume.reshape(-1) < 0.0, true_inside)
    vertices, faces = zero_level_surface(volume)
    chamfer = chamfer_distance(sample_mesh_points(vertices, faces, chamfer_points, seed=1),
                               sample_mesh_points(mesh.vertices, mesh.faces, chamfer_points, seed=2))
    diagonal = float(np.linalg.norm(mesh.bounds[1] - mesh.bounds[0]))
    return {"iou": iou, "chamfer": chamfer, "chamfer_relative": chamfer / diagonal, "eval_resolution": resolution}
