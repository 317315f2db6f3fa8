"""Write a procedural, class-labelled shape collection (DIR/<class>/<shape>.obj) for tri-plane fitting.

    python apps/make_shapes.py --output data/shapes --per-class 20
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from fields.datasets.shapes import SHAPE_CLASSES, write_collection
from fields.train.run_checks import check_output_folder


@dataclass
class MakeShapesConfig:
    output: Path
    """Folder to write DIR/<class>/<class>_<i>.obj into."""
    per_class: int = 20
    seed: int = 0
    classes: tuple[str, ...] = tuple(SHAPE_CLASSES)
    """Subset of the shape classes."""


def main(config: MakeShapesConfig) -> int:
    if config.per_class < 1:
        print("error: --per-class must be at least 1", file=sys.stderr)
        return 2
    try:
        check_output_folder(config.output)
        paths = write_collection(config.output, config.per_class, config.seed, config.classes)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} meshes of {len(config.classes)} classes to {config.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(MakeShapesConfig, description=__doc__)))
