"""Tri-plane classification: channel-order invariance, per-location normalisation, crops, and a classifier that
separates classes whose channels are shuffled per shape (as independent fits leave them)."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from fields.triplanes.classify import ClassifySettings, classify
from fields.triplanes.dataset import TriplaneCollection
from fields.triplanes.models import ChannelTransformer, PointNet, crop, normalize_channels

ROOT = Path(__file__).resolve().parents[1]


def test_normalisation_and_crops():
    planes = torch.randn(2, 3, 4, 6, 6) * torch.rand(2, 1, 1, 6, 6) * 10
    features = normalize_channels(planes)
    assert features.shape == (2, 12, 6, 6)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2, 6, 6))
    torch.testing.assert_close(crop(features, 4, None), features[..., 1:5, 1:5])
    windows = crop(features, 4, torch.Generator().manual_seed(0))
    assert windows.shape == (2, 12, 4, 4)


def test_models_are_invariant_to_channel_and_point_order():
    torch.manual_seed(0)
    transformer = ChannelTransformer(token_dim=16, n_classes=3, width=32, layers=2, heads=2).eval()
    features = torch.randn(2, 12, 4, 4)
    shuffled = features[:, torch.randperm(12)]
    torch.testing.assert_close(transformer(shuffled), transformer(features), rtol=1e-4, atol=1e-5)
    pointnet = PointNet(n_classes=3).eval()
    points = torch.randn(2, 50, 3)
    torch.testing.assert_close(pointnet(points[:, torch.randperm(50)]), pointnet(points))


def synthetic_collection(n_per_class=12, classes=3, seed=0) -> TriplaneCollection:
    """Class templates (one pattern per class) with noise; every shape's channels are shuffled independently."""
    generator = torch.Generator().manual_seed(seed)
    templates = torch.randn(classes, 3, 4, 8, 8, generator=generator)
    planes, labels = [], []
    for label in range(classes):
        for _ in range(n_per_class):
            sample = templates[label] + 0.3 * torch.randn(3, 4, 8, 8, generator=generator)
            planes.append(sample.flatten(0, 1)[torch.randperm(12, generator=generator)].reshape(3, 4, 8, 8))
            labels.append(label)
    points = torch.randn(len(labels), 32, 3, generator=generator) * (1 + torch.tensor(labels))[:, None, None]
    return TriplaneCollection(torch.stack(planes), points, torch.tensor(labels), [f"c{i}" for i in range(classes)],
                              [f"c{label}/s{i}" for i, label in enumerate(labels)])


def test_classifier_separates_channel_shuffled_classes():
    collection = synthetic_collection()
    result = classify(collection, ClassifySettings(epochs=30, batch_size=8, lr=2e-3, width=32, layers=2, heads=2))
    assert result["test_shapes"] == 9 and result["train_shapes"] == 27
    assert result["triplane_transformer"]["accuracy"] >= 0.88
    confusion = torch.tensor(result["pointnet"]["confusion"])
    assert confusion.sum() == 9 and confusion.shape == (3, 3)


def test_classify_app_writes_metrics_and_confusion_images(tmp_path):
    from fields.triplanes.store import ShapeJob, write_result

    collection = synthetic_collection(n_per_class=4)
    folder = tmp_path / "triplanes"
    for planes, points, label, name in zip(collection.planes, collection.points, collection.labels, collection.names):
        job = ShapeJob(f"/meshes/{name}.obj", f"{name}.obj", collection.classes[label])
        result = {"planes": planes, "points": points, "decoder": {}, "metrics": {}, "field_config": {}}
        write_result(folder, job, result)
    run = subprocess.run([sys.executable, str(ROOT / "apps" / "classify_triplanes.py"), "--triplanes", str(folder),
                          "--epochs", "2", "--settings.width", "16", "--settings.layers", "1", "--settings.heads", "2"],
                         capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr
    metrics = json.loads((folder / "classification" / "metrics.json").read_text())
    assert set(metrics) >= {"triplane_transformer", "pointnet", "classes"}
    assert (folder / "classification" / "confusion_triplane_transformer.png").stat().st_size > 0
    missing = subprocess.run([sys.executable, str(ROOT / "apps" / "classify_triplanes.py"), "--triplanes",
                              str(tmp_path / "nothing")], capture_output=True, text=True, cwd=ROOT,
                             env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert missing.returncode == 2 and "fit them first" in missing.stderr


def test_settings_out_of_range_are_named():
    import pytest

    from fields.triplanes.fitting import FitSettings

    with pytest.raises(ValueError, match="--settings.epochs must be positive"):
        ClassifySettings(epochs=0).check()
    with pytest.raises(ValueError, match="width \\(128\\) must be a multiple of --settings.heads \\(3\\)"):
        ClassifySettings(heads=3).check()
    with pytest.raises(ValueError, match="--fit.resolution must be positive"):
        FitSettings(resolution=0).check()
    ClassifySettings().check()
    FitSettings().check()
