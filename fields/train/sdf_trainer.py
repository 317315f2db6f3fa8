"""Fits a signed distance field to a mesh: exact SDF samples near the surface and in the box, L1 loss, IoU of the
occupancy on a grid and Chamfer distance of the zero-level surface against the mesh."""
from pathlib import Path

import torch

from fields.datasets.mesh_sdf import SdfSamples, load_mesh, normalize_mesh
from fields.geometry_metrics import evaluate_sdf
from fields.init import sdf_grid_target, select_for_volume
from fields.models import make_field
from fields.run import Budget, Cadence, RunFolder, make_optimizer, save_training_state, train_loop, training_device
from fields.run.fit import LossFit
from fields.train.config import TrainSdfConfig
from fields.train.method_options import method_field_options

DEFAULT_STEPS = 2000
class SdfTrainer:
    def __init__(self, config: TrainSdfConfig):
        config.check()
        if config.output is not None:
            RunFolder(config.output).check_new_run()
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
        self.run_folder = RunFolder(config.output) if config.output else RunFolder.new(
            "sdf", Path(config.mesh).stem, config.field)
        self.output = self.run_folder.path
        self.samples = SdfSamples(self.mesh, config.pool_size, config.seed).to(self.device)
        self.lr = config.lr or type(self.field.backbone).default_lr("sdf")
        self.optimizer = make_optimizer(self.field, self.lr)
        self.generator = torch.Generator().manual_seed(config.seed)

    def loss(self) -> torch.Tensor:
        points, sdf = self.samples.batch(self.config.batch_size, self.generator)
        return (self.field.sdf(points) - sdf).abs().mean()

    def save(self, fit: LossFit) -> None:
        save_training_state(self.run_folder.checkpoint, self.field, None, self.optimizer,
                            {"mesh_path": str(Path(self.config.mesh).resolve()),
                             "normalization": self.normalization.to_json(), "step": fit.step,
                             "train_seconds": fit.elapsed, "config": self.config.to_json()})

    def run(self) -> dict:
        c = self.config
        self.run_folder.write_config(c.to_json() | {"device": str(self.device), "lr": self.lr})
        print(f"fitting {c.field} SDF field to {c.mesh} ({len(self.mesh.faces)} faces) on {self.device}; "
              f"{self.field.num_parameters() / 1e6:.3f} M parameters; run folder {self.output}")
        budget = Budget.default(c.max_steps, c.max_time, self.device, DEFAULT_STEPS, cpu_default_time=None)
        fit = LossFit(self.loss, self.optimizer, budget, save=self.save)
        # The loop saves the trained field before the evaluation, which can fail or be interrupted.
        train_loop(fit, budget, Cadence(save_every=None), self.run_folder, progress_bar=c.progress, label="sdf")
        self.run_folder.write_json("metrics.json", fit.summary())  # the fit's figures, should the evaluation fail
        self.field.eval()
        metrics = evaluate_sdf(self.field.sdf, self.mesh, c.eval_resolution, self.device)
        metrics |= {**fit.summary(), "field": c.field, "field_config": self.field.config,
                    "num_parameters": self.field.num_parameters(), "size_mb": self.field.size_mb(),
                    "mesh": str(c.mesh)}
        if self.fresh is not None:
            metrics["fresh"] = self.fresh.to_json()
        self.run_folder.write_json("metrics.json", metrics)
        print(f"IoU {metrics['iou']:.4f}, Chamfer {metrics['chamfer']:.2e} ({metrics['chamfer_relative']:.2e} of the "
              f"diagonal) after {fit.step} steps ({fit.elapsed:.1f} s); outputs in {self.output}")
        return metrics
