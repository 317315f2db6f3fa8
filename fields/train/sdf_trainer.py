"""Fits a signed distance field to a mesh: exact SDF samples near the surface and in the box, L1 loss, IoU of the
occupancy on a grid and Chamfer distance of the zero-level surface against the mesh."""
import torch

from fields.datasets.mesh_sdf import SdfSamples, load_mesh, normalize_mesh
from fields.geometry_metrics import evaluate_sdf
from fields.init import sdf_grid_target, select_for_volume
from fields.train.config import TrainSdfConfig
from fields.train.fit_trainer import FitTrainer


class SdfTrainer(FitTrainer):
    signal, source, outputs = "sdf", "mesh", "sdf"
    config: TrainSdfConfig

    def load(self) -> None:
        self.mesh, self.normalization = normalize_mesh(load_mesh(self.config.mesh))

    def select_fresh(self, field_options: dict):
        c = self.config
        return select_for_volume(c.field, sdf_grid_target(self.mesh, c.fresh_grid), field_options, c.fresh_candidates,
                                 c.fresh_seeds, c.fresh_crop, device=self.device)

    def prepare(self) -> None:
        self.samples = SdfSamples(self.mesh, self.config.pool_size, self.config.seed).to(self.device)

    def loss(self) -> torch.Tensor:
        points, sdf = self.samples.batch(self.config.batch_size, self.generator)
        return (self.field.sdf(points) - sdf).abs().mean()

    def checkpoint_meta(self) -> dict:
        return {"normalization": self.normalization.to_json()}

    def describe(self) -> str:
        return f"SDF field to {self.config.mesh} ({len(self.mesh.faces)} faces)"

    def evaluate_final(self) -> dict:
        self.field.eval()
        return evaluate_sdf(self.field.sdf, self.mesh, self.config.eval_resolution, self.device)

    def report(self, metrics: dict) -> str:
        return (f"IoU {metrics['iou']:.4f}, Chamfer {metrics['chamfer']:.2e} ({metrics['chamfer_relative']:.2e} of "
                f"the diagonal)")
