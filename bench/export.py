"""Export figures: time and peak memory of mesh export, and the quality of the meshes.

    python -m bench.export timing --checkpoint LEGO.safetensors [--resolutions 256 512]
    python -m bench.export lego-depth --checkpoint LEGO.safetensors [--every 20 --downscale 2]
    python -m bench.export bunny --checkpoint BUNNY_SDF.safetensors [--resolutions 256 512]

timing: each export runs in a fresh process (its own peak RSS), with and without skipping the occupancy grid's
empty cells. lego-depth: the exported mesh (automatic threshold, and fixed thresholds for comparison) is rasterized
with the core rasterizer on val views and its depth compared with the field's own rendered depth (both as distance
along the camera axis, on pixels where the field is at least 50 % opaque and the mesh is hit). bunny: Chamfer
distance of the exported SDF mesh against the original mesh, in the original mesh coordinates: the mean of the two
mean distances from 200k points sampled on one surface to the other surface (exact point-to-triangle distances, so
there is no sampling floor; the sample-to-sample form of fields.geometry_metrics is given beside it), and normal
consistency (mean |n . n'| between a sample's face normal and the normal of the closest triangle, both ways).
Prints tables and JSON.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.timing import print_results

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def timing(args) -> None:
    rows = []
    for resolution in args.resolutions:
        for skip_empty in (True, False) if resolution <= args.compare_below else (True,):
            command = [sys.executable, "-m", "bench.export", "_one_export", "--checkpoint", str(args.checkpoint),
                       "--resolution", str(resolution)] + ([] if skip_empty else ["--no-skip-empty"])
            load = load_average()
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                    env=os.environ | {"PYTHONPATH": str(ROOT)})
            if result.returncode != 0:
                raise SystemExit(result.stderr)
            row = json.loads(result.stdout.strip().splitlines()[-1]) | {"load_before": load}
            rows.append(row)
            print(f"  {row}", flush=True)
    print_results(f"mesh export of {args.checkpoint} (CPU, {torch.get_num_threads()} threads; fresh process each)",
                  rows, ["resolution", "skip_empty", "total_s", "sample_s", "threshold_s", "marching_cubes_s",
                         "cleanup_s", "colors_s", "write_s", "peak_rss_gb", "faces", "threshold", "load_before"])


def one_export(args) -> None:
    from fields.export import export_field_mesh
    from fields.run.checkpoint import load_field

    field, grid, meta = load_field(args.checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        result = export_field_mesh(field, Path(folder) / "mesh.ply", args.resolution, None, None,
                                   grid if args.skip_empty else None, normalization=meta.get("normalization"))
    row = {"resolution": args.resolution, "skip_empty": args.skip_empty, "faces": result.n_faces,
           "threshold": result.threshold,
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    row |= {f"{stage}_s": seconds for stage, seconds in result.seconds.items()}
    print(json.dumps(row))


def lego_depth(args) -> None:
    from fields.datasets import find_scene, load_scene
    from fields.export.cleanup import remove_small_components
    from fields.export.marching import extract_isosurface
    from fields.export.threshold import automatic_density_threshold
    from fields.export.volume import VolumeGrid, occupied_cells, sample_volume
    from fields.ops.rasterize import rasterize
    from fields.render.camera import PinholeCamera, render_camera
    from fields.run.checkpoint import load_field

    field, grid, meta = load_field(args.checkpoint)
    scene_path = Path(meta["scene_path"]) if Path(meta.get("scene_path", "")).is_dir() else find_scene(meta["scene"])
    scene = load_scene(scene_path, "val")
    volume_grid = VolumeGrid.covering(field.aabb.tolist(), args.resolution)
    with torch.no_grad():
        volume = sample_volume(lambda x: field.density(x)[0], volume_grid, 0.0, needed=occupied_cells(grid))
    automatic = automatic_density_threshold(volume, volume_grid.spacing)
    levels = [("automatic", automatic)] + [(f"fixed {t:g}", t) for t in args.thresholds]
    meshes = {}
    for name, level in levels:
        vertices, faces = extract_isosurface(volume, level, volume_grid, inside_is_high=True)
        vertices, faces, _ = remove_small_components(vertices, faces, 0.01)
        meshes[name] = (torch.tensor(vertices, dtype=torch.float32), torch.tensor(faces))
    errors = {name: [] for name, _ in levels}
    median_errors = {name: [] for name, _ in levels}
    ious = {name: [] for name, _ in levels}
    views = list(range(0, scene.num_images, args.every))
    for index in views:
        fx, fy, cx, cy = scene.intrinsics[index].tolist()
        camera = PinholeCamera(scene.c2w[index], scene.width, scene.height, fx, fy, cx, cy).resized(
            scene.width // args.downscale, scene.height // args.downscale)
        with torch.no_grad():
            out = render_camera(field, grid, camera, **meta["render"])
        _, directions = camera.rays()
        cosine = (directions @ -camera.c2w[:3, 2]).reshape(camera.height, camera.width)
        opaque = out["opacity"] > 0.5
        field_depth = out["depth"] / out["opacity"].clamp_min(1e-6) * cosine
        origins, _ = camera.rays()
        median = median_depth(field, grid, origins, directions, meta["render"]["render_step_size"])
        median = median.reshape(camera.height, camera.width) * cosine
        for name, (vertices, faces) in meshes.items():
            raster = rasterize(vertices, faces, torch.zeros_like(vertices), camera.c2w,
                               (camera.fx, camera.fy, camera.cx, camera.cy), camera.width, camera.height)
            hit = torch.isfinite(raster.depth)
            both = opaque & hit
            errors[name].append((raster.depth - field_depth)[both].abs())
            median_errors[name].append((raster.depth - median)[both & torch.isfinite(median)].abs())
            ious[name].append((both.sum() / (opaque | hit).sum()).item())
    rows = []
    for name, level in levels:
        error = torch.cat(errors[name])
        to_median = torch.cat(median_errors[name])
        stats = ({"depth_mae": error.mean().item(), "depth_median": error.median().item(),
                  "depth_p90": error.quantile(0.9).item(), "median_depth_mae": to_median.mean().item()}
                 if error.numel() else {})  # empty mesh: no figures
        rows.append({"threshold": name, "level": level, "faces": len(meshes[name][1]),
                     "silhouette_iou": float(np.mean(ious[name]))} | stats)
    print_results(f"lego: mesh ({args.resolution}^3) rasterized vs the field's rendered depth, {len(views)} val views "
                  f"at {scene.width // args.downscale}x{scene.height // args.downscale} (scene units; load "
                  f"{load_average()})", rows,
                  ["threshold", "level", "faces", "depth_mae", "depth_median", "depth_p90", "median_depth_mae",
                   "silhouette_iou"])


@torch.no_grad()
def median_depth(field, grid, origins, directions, step: float, chunk: int = 1 << 13) -> torch.Tensor:
    """Distance [N] along each ray at which it reaches 50 % opacity (the median of the rendered depth distribution),
    +inf for rays that never do; the same samples as the renderer."""
    depths = []
    for first in range(0, origins.shape[0], chunk):
        o, d = origins[first:first + chunk], directions[first:first + chunk]
        samples = grid.sample(o, d, render_step_size=step)
        t_mid = 0.5 * (samples.t_starts + samples.t_ends)
        positions = o[samples.ray_indices] + d[samples.ray_indices] * t_mid[:, None]
        tau = field.density(positions)[0] * (samples.t_ends - samples.t_starts)
        cumulative = torch.cumsum(tau.double(), 0)
        before_ray = torch.zeros(o.shape[0], dtype=torch.float64)
        starts, counts = samples.packed_info[:, 0], samples.packed_info[:, 1]
        has = counts > 0
        before_ray[has] = cumulative[starts[has]] - tau[starts[has]].double()
        within = cumulative - before_ray[samples.ray_indices]
        reached = within >= np.log(2.0)
        depth = torch.full((o.shape[0],), float("inf"))
        t_end = samples.t_ends[reached]
        depth.scatter_reduce_(0, samples.ray_indices[reached], t_end, reduce="amin")
        depths.append(depth)
    return torch.cat(depths)


def bunny(args) -> None:
    import trimesh

    from fields.export import export_field_mesh
    from fields.geometry_metrics import chamfer_distance
    from fields.run.checkpoint import load_field

    field, _, meta = load_field(args.checkpoint)
    truth = trimesh.load(args.mesh or meta["mesh_path"], force="mesh")
    diagonal = float(np.linalg.norm(truth.bounds[1] - truth.bounds[0]))
    truth_points, truth_normals = _surface_samples(truth, seed=2)
    rows = []
    for resolution in args.resolutions:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            result = export_field_mesh(field, Path(folder) / "bunny.ply", resolution,
                                       normalization=meta["normalization"])
            seconds = time.perf_counter() - start
            mesh = trimesh.load(result.path, force="mesh")
        points, normals = _surface_samples(mesh, seed=1)
        to_truth, truth_faces = _closest(points, truth)
        to_mesh, mesh_faces = _closest(truth_points, mesh)
        chamfer = 0.5 * (to_truth.mean() + to_mesh.mean())
        consistency = 0.5 * (np.abs((normals * truth.face_normals[truth_faces]).sum(1)).mean()
                             + np.abs((truth_normals * mesh.face_normals[mesh_faces]).sum(1)).mean())
        rows.append({"resolution": resolution, "faces": result.n_faces, "export_s": seconds,
                     "chamfer": chamfer, "chamfer_relative": chamfer / diagonal,
                     "chamfer_samples_relative": chamfer_distance(points, truth_points) / diagonal,
                     "normal_consistency": consistency, "watertight": bool(mesh.is_watertight),
                     "volume_ratio": float(mesh.volume / truth.volume)})
    print_results(f"bunny SDF mesh vs {args.mesh or meta['mesh_path']} (original coordinates, diagonal "
                  f"{diagonal:.4g}; load {load_average()})", rows,
                  ["resolution", "faces", "export_s", "chamfer", "chamfer_relative", "chamfer_samples_relative",
                   "normal_consistency", "watertight", "volume_ratio"])


def _surface_samples(mesh, seed: int, count: int = 200_000):
    import trimesh

    points, face_index = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points), np.asarray(mesh.face_normals[face_index])


def _closest(points, mesh):
    """(distance [N] from each point to the closest triangle of ``mesh``, index [N] of that triangle)."""
    import igl

    squared, faces, _ = igl.point_mesh_squared_distance(points.astype(np.float64), np.asarray(mesh.vertices,
                                                        dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64))
    return np.sqrt(squared), np.asarray(faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("timing")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    p.add_argument("--compare-below", type=int, default=256,
                   help="also time without skipping empty cells at resolutions up to this")
    p = commands.add_parser("_one_export")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--resolution", type=int, required=True)
    p.add_argument("--no-skip-empty", dest="skip_empty", action="store_false")
    p = commands.add_parser("lego-depth")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--thresholds", type=float, nargs="*", default=[2.5, 25.0, 250.0])
    p.add_argument("--every", type=int, default=20, help="every K-th val view")
    p.add_argument("--downscale", type=int, default=2)
    p = commands.add_parser("bunny")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--mesh", type=Path, default=None, help="ground truth (default: the mesh the SDF was fit to)")
    p.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args()
    print(f"uptime load: {load_average()}; torch threads {torch.get_num_threads()}", flush=True)
    {"timing": timing, "_one_export": one_export, "lego-depth": lego_depth, "bunny": bunny}[args.command](args)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
