"""Train a radiance field on a posed-image scene and report val PSNR/SSIM.

    python apps/train_nerf.py --scene lego
    python apps/train_nerf.py --scene lego --max-time 120 --output outputs/quick
    python apps/train_nerf.py --scene lego --output outputs/quick --resume
    python apps/train_nerf.py --scene lego --viewer [--viewer-port 7007]   # watch it train in a browser

Ctrl+C, SIGTERM or SIGHUP write a checkpoint (also one every --save-interval seconds); --resume continues it.
"""
import time

from fields.run import run_app, user_errors
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer


def main(config: TrainNerfConfig) -> int:
    viewer = None
    with user_errors():  # scene, resume and option errors (all ValueError or FileNotFoundError)
        link = None
        if config.viewer:
            from fields.viewer import TrainingLink, check_port

            check_port(config.viewer_host, config.viewer_port)  # before loading data: a busy port fails fast
            link = TrainingLink()
        trainer = NerfTrainer(config, callbacks=link)
        if config.viewer:
            from fields.viewer.training import attach_viewer

            viewer = attach_viewer(trainer, link, config.viewer_host, config.viewer_port)
    try:
        result = trainer.run()
        print(f"done: {result.step} steps in {result.train_seconds:.0f} s; outputs in {result.output}")
        if viewer is not None and config.viewer_wait:
            print(f"the viewer stays open at {viewer.url}; Ctrl+C to quit")
            while True:
                time.sleep(3600)
    finally:
        if viewer is not None:
            viewer.close()
    return 0


if __name__ == "__main__":
    run_app(main, TrainNerfConfig, __doc__)
