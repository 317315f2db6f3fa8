"""Fit a signed distance field to a mesh and report occupancy IoU (128^3 grid) and Chamfer distance.

    python apps/train_sdf.py --mesh ../shared/data/sdf/bunny.obj --field hash --max-time 60
"""
from fields.run import run_app
from fields.train.config import TrainSdfConfig
from fields.train.fit_trainer import fit_main
from fields.train.sdf_trainer import SdfTrainer


def main(config: TrainSdfConfig) -> int:
    return fit_main(SdfTrainer, config)


if __name__ == "__main__":
    run_app(main, TrainSdfConfig, __doc__)
