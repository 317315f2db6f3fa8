"""Fits an image field to one image: random pixel batches, MSE, PSNR on all pixels and on held-out ones."""
from pathlib import Path

import torch

from fields.datasets.image import load_image
from fields.init import select_for_image
from fields.metrics import psnr
from fields.models import make_field
from fields.run import Budget, Cadence, RunFolder, make_optimizer, save_png, save_training_state, train_loop
from fields.run import training_device
from fields.run.fit import LossFit
from fields.train.config import TrainImageConfig
from fields.train.method_options import method_field_options

DEFAULT_STEPS = 2000
MAX_FULL_BATCH = 1 << 18


class ImageTrainer:
    def __init__(self, config: TrainImageConfig):
        config.check()
        if config.output is not None:
            RunFolder(config.output).check_new_run()
        self.config = config
        self.device = training_device(config.device)
        self.image = load_image(config.image).to(self.device)
        height, width, _ = self.image.shape
        self.fresh = None
        field_options = method_field_options("image", config)
        if config.init == "fresh":
            self.fresh = select_for_image(config.field, self.image, field_options, config.fresh_candidates,
                                          config.fresh_seeds, config.fresh_side, config.fresh_crop,
                                          device=self.device)
            print(self.fresh.table())
            field_options |= self.fresh.options()
        torch.manual_seed(config.seed)
        self.field = make_field("image", config.field, height=height, width=width,
                                **field_options).to(self.device)
        self.run_folder = RunFolder(config.output) if config.output else RunFolder.new(
            "images", Path(config.image).stem, config.field)
        self.output = self.run_folder.path
        uv = self.field.pixel_coordinates()
        colors = self.image.reshape(-1, 3)
        self.train_mask = torch.ones(len(uv), dtype=torch.bool, device=self.device)
        if config.holdout_every:
            self.train_mask[:: config.holdout_every] = False
        self.train_uv, self.train_rgb = uv[self.train_mask], colors[self.train_mask]
        self.batch_size = config.batch_size or min(len(self.train_uv), MAX_FULL_BATCH)
        self.lr = config.lr or type(self.field.backbone).default_lr("image")
        self.optimizer = make_optimizer(self.field, self.lr)
        self.generator = torch.Generator().manual_seed(config.seed)

    def loss(self) -> torch.Tensor:
        if self.batch_size >= len(self.train_uv):
            uv, rgb = self.train_uv, self.train_rgb
        else:
            index = torch.randint(0, len(self.train_uv), (self.batch_size,), generator=self.generator)
            index = index.to(self.device)
            uv, rgb = self.train_uv[index], self.train_rgb[index]
        return torch.nn.functional.mse_loss(self.field.rgb(uv), rgb)

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.field.eval()
        reconstruction = self.field.render()
        target = self.image.clamp(0.0, 1.0)
        metrics = {"psnr": psnr(reconstruction, target)}
        if self.config.holdout_every:
            mask = ~self.train_mask.reshape(reconstruction.shape[:2])
            metrics["psnr_holdout"] = psnr(reconstruction[mask], target[mask])
            metrics["psnr_train_pixels"] = psnr(reconstruction[~mask], target[~mask])
        self.field.train()
        return metrics | {"reconstruction": reconstruction}

    def save(self, fit: LossFit) -> None:
        save_training_state(self.run_folder.checkpoint, self.field, None, self.optimizer,
                            {"image_path": str(Path(self.config.image).resolve()), "step": fit.step,
                             "train_seconds": fit.elapsed, "config": self.config.to_json()})

    def run(self) -> dict:
        c = self.config
        self.run_folder.write_config(c.to_json() | {"device": str(self.device), "lr": self.lr})
        height, width, _ = self.image.shape
        print(f"fitting {c.field} image field to {c.image} ({width}x{height}) on {self.device}; "
              f"{self.field.num_parameters() / 1e6:.3f} M parameters; run folder {self.output}")
        budget = Budget.default(c.max_steps, c.max_time, self.device, DEFAULT_STEPS, cpu_default_time=None)
        fit = LossFit(self.loss, self.optimizer, budget, save=self.save)
        # The loop saves the trained field before anything else can fail (evaluation, writing the image).
        train_loop(fit, budget, Cadence(save_every=None), self.run_folder, progress_bar=c.progress, label="image")
        self.run_folder.write_json("metrics.json", fit.summary())  # the fit's figures, should the evaluation fail
        evaluation = self.evaluate()
        save_png(evaluation.pop("reconstruction").cpu(), self.output / "reconstruction.png")
        metrics = {**evaluation, **fit.summary(), "field": c.field, "field_config": self.field.config,
                   "num_parameters": self.field.num_parameters(), "size_mb": self.field.size_mb(),
                   "image": str(c.image), "height": height, "width": width, "holdout_every": c.holdout_every,
                   "batch_size": self.batch_size}
        if self.fresh is not None:
            metrics["fresh"] = self.fresh.to_json()
        self.run_folder.write_json("metrics.json", metrics)
        holdout = f", held-out pixels {metrics['psnr_holdout']:.2f} dB" if c.holdout_every else ""
        print(f"PSNR {metrics['psnr']:.2f} dB on all pixels{holdout} after {fit.step} steps "
              f"({fit.elapsed:.1f} s); outputs in {self.output}")
        return metrics
