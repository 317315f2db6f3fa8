"""Fits a signed distance field to a mesh: exact SDF samples near the surface and in the box, L1 loss, IoU of the
occupancy on a grid and Chamfer distance of the zero-level surface against the mesh."""
from pathlib import Path

import numpy as np
import torch

from fields.datasets.mesh_sdf import Mesh, SdfSamples, inside, load_mesh, normalize_mesh
from fields.init import sdf_grid_target, select_for_volume
from fields.geometry_metrics import (chamfer_distance, grid_points, occupancy_iou, sample_mesh_points, sdf_volume,
                                     zero_level_surface)
from fields.models import make_field
from fields.train.checkpointing import save_training_state
from fields.train.method_options import method_field_options
from fields.train.config import TrainSdfConfig
from fields.train.fit_loop import default_output, make_optimizer, run_fit, write_json
from fields.train.nerf_trainer import training_device
from fields.train.run_checks import check_run_folder

DEFAULT_STEPS = 2000
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


class SdfTrainer:
    def __init__(self, config: TrainSdfConfig):
        config.check()
        check_run_folder(config.output)
        self.config = config
        self.device = training_device(config.device)
        self.mesh, self.normalization = normalize_mesh(load_mesh(config.mesh))
        self.fresh = None
        field_options = method_field_options("sdf", config)
        if config.init == "fresh":
            self.fresh = select_for_volume(config.field, sdf_grid_target(self.mesh, config.fresh_grid),
                                           field_options, config.fresh_candidates, config.fresh_seeds,
                                           config.fresh_crop, device=self.device)
            print(self.fresh.table())
            field_options |= self.fresh.options()
        torch.manual_seed(config.seed)
        self.field = make_field("sdf", config.field, **field_options).to(self.device)
        self.output = Path(config.output) if config.output else default_output("sdf", Path(config.mesh).stem,
                                                                                 config.field)
        self.samples = SdfSamples(self.mesh, config.pool_size, config.seed).to(self.device)
        self.lr = config.lr or type(self.field.backbone).default_lr("sdf")
        self.optimizer = make_optimizer(self.field, self.lr)
        self.generator = torch.Generator().manual_seed(config.seed)

    def loss(self) -> torch.Tensor:
        points, sdf = self.samples.batch(self.config.batch_size, self.generator)
        return (self.field.sdf(points) - sdf).abs().mean()

    def run(self) -> dict:
        c = self.config
        self.output.mkdir(parents=True, exist_ok=True)
        write_json(self.output / "config.json", c.to_json() | {"device": str(self.device), "lr": self.lr})
        print(f"fitting {c.field} SDF field to {c.mesh} ({len(self.mesh.faces)} faces) on {self.device}; "
              f"{self.field.num_parameters() / 1e6:.3f} M parameters; run folder {self.output}")
        fit = run_fit(self.loss, self.optimizer, c.max_steps or DEFAULT_STEPS, c.max_time, c.progress, "sdf")
        # The trained field is saved before the evaluation, which can fail or be interrupted.
        save_training_state(self.output / "checkpoints" / "latest.safetensors", self.field, None, self.optimizer,
                            {"mesh_path": str(Path(c.mesh).resolve()), "normalization": self.normalization.to_json(),
                             "step": fit["steps"], "train_seconds": fit["train_seconds"], "config": c.to_json()})
        self.field.eval()
        try:
            metrics = evaluate_sdf(self.field.sdf, self.mesh, c.eval_resolution, self.device)
        except KeyboardInterrupt:  # the evaluation grid can take minutes at high --eval-resolution
            print(f"interrupted: evaluation skipped; the field is saved in {self.output}/checkpoints")
            write_json(self.output / "metrics.json", fit)
            return fit
        metrics |= {**fit, "field": c.field, "field_config": self.field.config,
                    "num_parameters": self.field.num_parameters(), "size_mb": self.field.size_mb(),
                    "mesh": str(c.mesh)}
        if self.fresh is not None:
            metrics["fresh"] = self.fresh.to_json()
        write_json(self.output / "metrics.json", metrics)
        print(f"IoU {metrics['iou']:.4f}, Chamfer {metrics['chamfer']:.2e} ({metrics['chamfer_relative']:.2e} of the "
              f"diagonal) after {fit['steps']} steps ({fit['train_seconds']:.1f} s); outputs in {self.output}")
        return metrics
