"""Fits an image field to one image: random pixel batches, MSE, PSNR on all pixels and on held-out ones."""
import torch

from fields.datasets.image import load_image
from fields.init import select_for_image
from fields.metrics import psnr
from fields.run import save_png
from fields.train.config import TrainImageConfig
from fields.train.fit_trainer import FitTrainer

MAX_FULL_BATCH = 1 << 18


class ImageTrainer(FitTrainer):
    signal, source, outputs = "image", "image", "images"
    config: TrainImageConfig

    def load(self) -> None:
        self.image = load_image(self.config.image).to(self.device)

    def select_fresh(self, field_options: dict):
        c = self.config
        return select_for_image(c.field, self.image, field_options, c.fresh_candidates, c.fresh_seeds, c.fresh_side,
                                c.fresh_crop, device=self.device)

    def field_size(self) -> dict:
        height, width, _ = self.image.shape
        return {"height": height, "width": width}

    def prepare(self) -> None:
        uv = self.field.pixel_coordinates()
        colors = self.image.reshape(-1, 3)
        self.train_mask = torch.ones(len(uv), dtype=torch.bool, device=self.device)
        if self.config.holdout_every:
            self.train_mask[:: self.config.holdout_every] = False
        self.train_uv, self.train_rgb = uv[self.train_mask], colors[self.train_mask]
        self.batch_size = self.config.batch_size or min(len(self.train_uv), MAX_FULL_BATCH)

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

    def describe(self) -> str:
        height, width, _ = self.image.shape
        return f"image field to {self.config.image} ({width}x{height})"

    def evaluate_final(self) -> dict:
        evaluation = self.evaluate()
        save_png(evaluation.pop("reconstruction").cpu(), self.output / "reconstruction.png")
        return evaluation

    def signal_metrics(self) -> dict:
        height, width, _ = self.image.shape
        return {"height": height, "width": width, "holdout_every": self.config.holdout_every,
                "batch_size": self.batch_size}

    def report(self, metrics: dict) -> str:
        holdout = f", held-out pixels {metrics['psnr_holdout']:.2f} dB" if self.config.holdout_every else ""
        return f"PSNR {metrics['psnr']:.2f} dB on all pixels{holdout}"
