"""Fit a 2D field to an image and report PSNR (on all pixels, and on held-out pixels with --holdout-every).

    python apps/train_image.py --image photo.png --field hash --max-time 60
    python apps/train_image.py --image photo.png --field ffn --holdout-every 2
"""
from fields.run import run_app
from fields.train.config import TrainImageConfig
from fields.train.fit_trainer import fit_main
from fields.train.image_trainer import ImageTrainer


def main(config: TrainImageConfig) -> int:
    return fit_main(ImageTrainer, config)


if __name__ == "__main__":
    run_app(main, TrainImageConfig, __doc__)
