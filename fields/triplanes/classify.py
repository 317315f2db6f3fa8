"""Training and evaluating the tri-plane classifier and the point-cloud baseline on one split (docs/methods.md):
AdamW with a one-cycle schedule and cross-entropy; accuracy and confusion matrix on the held-out shapes."""
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from fields.run.options import check_non_negative, check_positive
from fields.threads import torch_threads
from fields.triplanes.dataset import TriplaneCollection
from fields.triplanes.models import ChannelTransformer, PointNet, crop, normalize_channels


@dataclass(frozen=True)
class ClassifySettings:
    epochs: int = 100
    batch_size: int = 32
    lr: float = 3e-4
    """Peak learning rate of the one-cycle schedule (the paper: 1e-4 over 150 epochs of batch 256)."""
    weight_decay: float = 1e-3
    crop_margin: int = 1
    """Pixels cropped from each side: the paper takes random 30x30 windows of its 32x32 planes (margin 1)."""
    width: int = 128
    """Token width of the Transformer (the paper: 512)."""
    layers: int = 4
    """Encoder layers (the paper: 8)."""
    heads: int = 4
    point_jitter: float = 0.005
    """Standard deviation of the Gaussian jitter added to the baseline's training points."""
    test_fraction: float = 0.25
    seed: int = 0
    threads: int = 1
    """Torch threads while training: these models are small, and on a busy machine more threads mostly wait for each
    other (ten times slower with 2 threads than with 1 at a load of 10 on 2 cores)."""

    def check(self) -> None:
        """Raises ValueError naming the first setting out of range."""
        check_positive(self, ["epochs", "batch_size", "lr", "width", "layers", "heads", "threads"], "settings.")
        check_non_negative(self, ["weight_decay", "crop_margin", "point_jitter"], "settings.")
        if self.width % self.heads:
            raise ValueError(f"--settings.width ({self.width}) must be a multiple of --settings.heads ({self.heads})")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"--settings.test-fraction must lie between 0 and 1, got {self.test_fraction}")


def _fit(model: nn.Module, inputs: Callable[[torch.Tensor, bool], torch.Tensor], labels: torch.Tensor,
         train: torch.Tensor, test: torch.Tensor, settings: ClassifySettings, n_classes: int) -> dict:
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    batches_per_epoch = -(-len(train) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.epochs *
                                                   batches_per_epoch)
    start = time.perf_counter()
    model.train()
    for _ in range(settings.epochs):
        order = train[torch.randperm(len(train), generator=generator)]
        for batch in order.split(settings.batch_size):
            loss = nn.functional.cross_entropy(model(inputs(batch, generator)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(inputs(batch, None)).argmax(-1) for batch in test.split(settings.batch_size)])
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
    confusion.index_put_((labels[test], predicted), torch.ones_like(predicted), accumulate=True)
    return {"accuracy": float((predicted == labels[test]).float().mean()), "confusion": confusion.tolist(),
            "train_seconds": train_seconds, "num_parameters": sum(p.numel() for p in model.parameters())}


def classify(collection: TriplaneCollection, settings: ClassifySettings = ClassifySettings()) -> dict:
    """Trains both classifiers on the same split; returns their test accuracy and confusion matrices (rows: true
    class, columns: predicted) and the split."""
    with torch_threads(settings.threads):
        return _classify(collection, settings)


def _classify(collection: TriplaneCollection, settings: ClassifySettings) -> dict:
    train, test = collection.split(settings.test_fraction, settings.seed)
    n_classes = len(collection.classes)
    features = normalize_channels(collection.planes)
    size = features.shape[-1] - 2 * settings.crop_margin

    def triplane_inputs(batch, generator):
        return crop(features[batch], size, generator)

    def point_inputs(batch, generator):
        points = collection.points[batch]
        if generator is None:
            return points
        return points + settings.point_jitter * torch.randn(points.shape, generator=generator)

    torch.manual_seed(settings.seed)
    transformer = ChannelTransformer(size * size, n_classes, settings.width, settings.layers, settings.heads)
    pointnet = PointNet(n_classes)
    return {"classes": collection.classes, "train_shapes": len(train), "test_shapes": len(test),
            "test_names": [collection.names[i] for i in test.tolist()], "settings": asdict(settings),
            "triplane_shape": list(collection.planes.shape[1:]),
            "triplane_transformer": _fit(transformer, triplane_inputs, collection.labels, train, test, settings,
                                         n_classes),
            "pointnet": _fit(pointnet, point_inputs, collection.labels, train, test, settings, n_classes)}
