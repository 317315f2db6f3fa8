"""Write a procedural, class-labelled shape collection (DIR/<class>/<shape>.obj) for tri-plane fitting.

    python apps/make_shapes.py --output data/shapes --per-class 20
"""
from dataclasses import dataclass
from pathlib import Path

from fields.datasets.shapes import SHAPE_CLASSES, write_collection
from fields.run import RunFolder, check_positive, run_app, user_errors


@dataclass
class MakeShapesConfig:
    output: Path
    """Folder to write DIR/<class>/<class>_<i>.obj into."""
    per_class: int = 20
    seed: int = 0
    classes: tuple[str, ...] = tuple(SHAPE_CLASSES)
    """Subset of the shape classes."""


def main(config: MakeShapesConfig) -> int:
    with user_errors(ValueError):
        check_positive(config, ["per_class"])
        RunFolder(config.output).check_writable()
        paths = write_collection(config.output, config.per_class, config.seed, config.classes)
    print(f"wrote {len(paths)} meshes of {len(config.classes)} classes to {config.output}")
    return 0


if __name__ == "__main__":
    run_app(main, MakeShapesConfig, __doc__)
