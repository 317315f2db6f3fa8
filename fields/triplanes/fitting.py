"""Fitting one tri-plane field to one mesh (docs/methods.md), deterministically given the shape's seed.

The signed distance is truncated to ±truncation and mapped affinely to [0, 1], and the field's output is trained as
a logit with binary cross-entropy, as in the paper's mesh fitting. Its zero crossing (logit 0) is the surface, so the
IoU and Chamfer distance of ``evaluate_sdf`` apply to the decoded distance directly. Defaults are small (32x32x16
planes, a few hundred steps) so that a shape fits in seconds on one core; the paper's settings are flags.
"""
import math
import time
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import torch

from fields.datasets.mesh_sdf import SdfSamples, load_mesh, normalize_mesh, sample_surface
from fields.models import make_field
from fields.geometry_metrics import evaluate_sdf
from fields.run import Budget, Cadence, check_non_negative, check_positive, make_optimizer, train_loop
from fields.run.fit import LossFit
from fields.threads import torch_threads


@dataclass(frozen=True)
class FitSettings:
    resolution: int = 32
    """Plane resolution (the paper: 32)."""
    channels: int = 16
    """Channels per plane (the paper: 16)."""
    n_frequencies: int = 10
    """Octaves of the positional encoding of xyz joined to the plane features (the paper: 10; 0 = none)."""
    decoder: str = "siren"
    """Decoder MLP: "siren" (the paper) or "relu"."""
    hidden_dim: int = 64
    n_layers: int = 3
    first_omega: float = 30.0
    """SIREN frequency of the decoder's first layer."""
    steps: int = 200
    """Optimisation steps (the paper: 600 for meshes)."""
    batch_size: int = 2048
    """Query points per step (the paper: 50 000)."""
    lr: float = 2e-3
    """Adam learning rate (the paper: 1e-4 over 600 steps of 50 000 points; fewer, smaller steps need more)."""
    pool_size: int = 1 << 15
    """Points sampled once per shape with their exact signed distances (half near the surface, half uniform)."""
    truncation: float = 0.1
    """The signed distance is clamped to ±truncation before it is mapped to the [0, 1] target."""
    eval_resolution: int = 32
    """Grid of the fitting IoU and of the marching-cubes surface for the Chamfer distance."""
    chamfer_points: int = 10_000
    """Points sampled on each surface for the fitting Chamfer distance."""
    n_points: int = 1024
    """Surface points stored beside the tri-plane for the point-cloud baseline."""

    def check(self) -> None:
        """Raises ValueError naming the first setting out of range."""
        check_positive(self, ["resolution", "channels", "hidden_dim", "n_layers", "first_omega", "steps",
                              "batch_size", "lr", "pool_size", "truncation", "chamfer_points", "n_points"], "fit.")
        check_non_negative(self, ["n_frequencies"], "fit.")
        if self.eval_resolution < 8:
            raise ValueError(f"--fit.eval-resolution must be at least 8, got {self.eval_resolution}")

    def field_options(self) -> dict:
        return dict(resolution=self.resolution, plane_channels=self.channels, reduce="sum",
                    n_frequencies=self.n_frequencies, decoder=self.decoder, hidden_dim=self.hidden_dim,
                    n_layers=self.n_layers, first_omega=self.first_omega)

    def to_json(self) -> dict:
        return asdict(self)


class FitError(RuntimeError):
    """The optimisation diverged (non-finite loss or parameters)."""


def shape_seed(relative_path: str) -> int:
    """A seed that depends only on the shape's path relative to the collection, so every backend agrees."""
    return zlib.crc32(relative_path.replace("\\", "/").encode()) & 0x7FFFFFFF


@torch_threads(1)  # one shape per core; also makes every backend compute bit-identical results
def fit_shape(mesh_path: str, relative_path: str, settings: FitSettings) -> dict:
    """Fits one shape on one CPU thread. Returns {"planes" [3, C, R, R], "points" [P, 3], "decoder" (state dict),
    "metrics"}; raises MeshLoadError for a bad mesh and FitError for a diverged fit."""
    start = time.perf_counter()
    seed = shape_seed(relative_path)
    mesh, _ = normalize_mesh(load_mesh(mesh_path))
    samples = SdfSamples(mesh, settings.pool_size, seed)
    targets = (samples.sdf.clamp(-settings.truncation, settings.truncation) + settings.truncation) / (
        2 * settings.truncation)
    torch.manual_seed(seed)
    field = make_field("sdf", "triplane", **settings.field_options())
    optimizer = make_optimizer(field, settings.lr)
    generator = torch.Generator().manual_seed(seed)

    def loss() -> torch.Tensor:
        index = torch.randint(0, len(samples.points), (settings.batch_size,), generator=generator)
        logits = field.sdf(samples.points[index])
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[index])

    budget = Budget(settings.steps, None)
    fit = LossFit(loss, optimizer, budget)
    try:
        train_loop(fit, budget, Cadence(save_every=None, save_interval=None), None, progress_bar=False)
    except RuntimeError as error:
        raise FitError(f"fitting {relative_path} diverged: {error}") from error
    planes = field.backbone.planes.detach()
    if not (math.isfinite(fit.final_loss) and torch.isfinite(planes).all()):
        raise FitError(f"fitting {relative_path} diverged (final loss {fit.final_loss})")
    field.eval()
    with torch.no_grad():
        metrics = evaluate_sdf(field.sdf, mesh, settings.eval_resolution, "cpu",
                               chamfer_points=settings.chamfer_points)
    points, _ = sample_surface(mesh, settings.n_points, np.random.default_rng(seed))
    metrics |= {**fit.summary(), "seed": seed, "fit_seconds": time.perf_counter() - start}
    decoder = {name: tensor.detach().clone() for name, tensor in field.backbone.decoder.state_dict().items()}
    return {"planes": planes.clone(), "points": torch.from_numpy(points.astype(np.float32)), "decoder": decoder,
            "metrics": metrics, "field_config": field.config}
