"""Train and evaluate a classifier of fitted tri-planes (a Transformer over channel tokens) and a point-cloud
baseline (PointNet on points of the same meshes) on one split; write metrics.json and confusion matrices (PNG).

    python apps/classify_triplanes.py --triplanes outputs/triplanes --epochs 100
"""
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from fields.run import check_positive, run_app, user_errors, write_json
from fields.triplanes.classify import ClassifySettings, classify
from fields.triplanes.confusion_image import save_confusion_png
from fields.triplanes.dataset import TriplaneCollection


@dataclass
class ClassifyTriplanesConfig:
    triplanes: Path
    """Folder written by apps/fit_triplanes.py."""
    output: Optional[Path] = None
    """Where metrics.json and the PNGs go (default: TRIPLANES/classification)."""
    epochs: Optional[int] = None
    """Training epochs of both classifiers (default: settings.epochs)."""
    settings: ClassifySettings = field(default_factory=ClassifySettings)


def main(config: ClassifyTriplanesConfig) -> int:
    settings = config.settings if config.epochs is None else replace(config.settings, epochs=config.epochs)
    with user_errors():
        check_positive(config, ["epochs"])
        settings.check()
        collection = TriplaneCollection.load(config.triplanes)
    output = config.output or config.triplanes / "classification"
    print(f"{len(collection.labels)} shapes, {len(collection.classes)} classes, tri-planes "
          f"{list(collection.planes.shape[1:])}; training {settings.epochs} epochs")
    result = classify(collection, settings)
    output.mkdir(parents=True, exist_ok=True)
    for model in ("triplane_transformer", "pointnet"):
        accuracy = result[model]["accuracy"]
        save_confusion_png(result[model]["confusion"], result["classes"], f"{model}: accuracy {accuracy:.3f}",
                           output / f"confusion_{model}.png")
        print(f"{model}: test accuracy {accuracy:.3f} ({result['test_shapes']} shapes), "
              f"{result[model]['train_seconds']:.0f} s of training")
    write_json(output / "metrics.json", result)
    print(f"metrics and confusion matrices in {output}")
    return 0


if __name__ == "__main__":
    run_app(main, ClassifyTriplanesConfig, __doc__)
