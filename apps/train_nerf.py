"""Train a radiance field on a posed-image scene and report val PSNR/SSIM.

    python apps/train_nerf.py --scene lego
    python apps/train_nerf.py --scene lego --max-time 120 --output outputs/quick
    python apps/train_nerf.py --scene lego --output outputs/quick --resume
"""
import sys

import tyro

from fields.datasets import SceneNotFoundError, SceneFormatError
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer, ResumeError


def main(config: TrainNerfConfig) -> int:
    try:
        trainer = NerfTrainer(config)
    except (SceneNotFoundError, SceneFormatError, ResumeError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = trainer.run()
    print(f"done: {result.step} steps in {result.train_seconds:.0f} s of training; outputs in {result.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(TrainNerfConfig, description=__doc__)))
