"""Fit a signed distance field to a mesh and report occupancy IoU (128^3 grid) and Chamfer distance.

    python apps/train_sdf.py --mesh ../shared/data/sdf/bunny.obj --field hash --max-time 60
"""
import sys

import tyro

from fields.datasets.mesh_sdf import MeshLoadError
from fields.train.config import TrainSdfConfig
from fields.train.sdf_trainer import SdfTrainer


def main(config: TrainSdfConfig) -> int:
    try:
        trainer = SdfTrainer(config)
    except (MeshLoadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trainer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(TrainSdfConfig, description=__doc__)))
