"""Fit a 2D field to an image and report PSNR (on all pixels, and on held-out pixels with --holdout-every).

    python apps/train_image.py --image photo.png --field hash --max-time 60
    python apps/train_image.py --image photo.png --field ffn --holdout-every 2
"""
import sys

import tyro

from fields.datasets.image import ImageLoadError
from fields.train.config import TrainImageConfig
from fields.train.image_trainer import ImageTrainer


def main(config: TrainImageConfig) -> int:
    try:
        trainer = ImageTrainer(config)
    except (ImageLoadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trainer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(tyro.cli(TrainImageConfig, description=__doc__)))
