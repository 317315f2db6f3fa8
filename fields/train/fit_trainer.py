"""What the image and SDF trainers share: options checked before anything is loaded, the field (its embedding
chosen by FreSh with --init fresh), Adam under a step or time budget through the one training loop, a checkpoint
written before the evaluation, and metrics.json."""
from pathlib import Path

import torch

from fields.models import make_field
from fields.run import (Budget, Cadence, RunFolder, make_optimizer, save_training_state, train_loop, training_device,
                        user_errors)
from fields.run.fit import LossFit
from fields.train.config import FitConfig
from fields.train.method_options import method_field_options

DEFAULT_STEPS = 2000


class FitTrainer:
    """A subclass names its ``signal``, the option holding the file it fits (``source``) and the outputs folder,
    and defines ``load()`` (reads that file), ``select_fresh(field_options)`` (the FreSh choice), ``loss()``,
    ``describe()`` (what is fitted, for the first line), ``evaluate_final()`` (metrics after training) and
    ``report(metrics)`` (the last line); the methods below with a default are optional."""

    signal: str  # "image" or "sdf"
    source: str  # "image" or "mesh"
    outputs: str  # outputs/<outputs>/<file name>/<field>/<time>

    def __init__(self, config: FitConfig):
        config.check()
        if config.output is not None:
            RunFolder(config.output).check_new_run()
        self.config = config
        self.device = training_device(config.device)
        self.load()
        self.fresh = None
        field_options = method_field_options(self.signal, config)
        if config.init == "fresh":
            self.fresh = self.select_fresh(field_options)
            print(self.fresh.table())
            field_options |= self.fresh.options()
        torch.manual_seed(config.seed)
        self.field = make_field(self.signal, config.field, **self.field_size(), **field_options).to(self.device)
        self.source_path = Path(getattr(config, self.source))
        self.run_folder = RunFolder(config.output) if config.output else RunFolder.new(
            self.outputs, self.source_path.stem, config.field)
        self.output = self.run_folder.path
        self.prepare()
        self.lr = config.lr or type(self.field.backbone).default_lr(self.signal)
        self.optimizer = make_optimizer(self.field, self.lr)
        self.generator = torch.Generator().manual_seed(config.seed)

    def field_size(self) -> dict:
        return {}

    def prepare(self) -> None:
        """Training data that needs the field (called once the field is made)."""

    def signal_metrics(self) -> dict:
        return {}

    def checkpoint_meta(self) -> dict:
        return {}

    def save(self, fit: LossFit) -> None:
        save_training_state(self.run_folder.checkpoint, self.field, None, self.optimizer,
                            {f"{self.source}_path": str(self.source_path.resolve()), **self.checkpoint_meta(),
                             "step": fit.step, "train_seconds": fit.elapsed, "config": self.config.to_json()})

    def run(self) -> dict:
        c = self.config
        self.run_folder.write_config(c.to_json() | {"device": str(self.device), "lr": self.lr})
        print(f"fitting {c.field} {self.describe()} on {self.device}; {self.field.num_parameters() / 1e6:.3f} M "
              f"parameters; run folder {self.output}")
        budget = Budget.default(c.max_steps, c.max_time, self.device, DEFAULT_STEPS, cpu_default_time=None)
        fit = LossFit(self.loss, self.optimizer, budget, save=self.save)
        # The loop saves the trained field before the evaluation, which can fail or be interrupted.
        train_loop(fit, budget, Cadence(save_every=None), self.run_folder, progress_bar=c.progress, label=self.signal)
        self.run_folder.write_json("metrics.json", fit.summary())  # the fit's figures, should the evaluation fail
        metrics = {**self.evaluate_final(), **fit.summary(), "field": c.field, "field_config": self.field.config,
                   "num_parameters": self.field.num_parameters(), "size_mb": self.field.size_mb(),
                   self.source: str(getattr(c, self.source)), **self.signal_metrics()}
        if self.fresh is not None:
            metrics["fresh"] = self.fresh.to_json()
        self.run_folder.write_json("metrics.json", metrics)
        print(f"{self.report(metrics)} after {fit.step} steps ({fit.elapsed:.1f} s); outputs in {self.output}")
        return metrics


def fit_main(trainer_type: type[FitTrainer], config: FitConfig) -> int:
    """The ``main`` of apps/train_image.py and apps/train_sdf.py."""
    with user_errors():  # ImageLoadError, MeshLoadError and bad options are ValueErrors
        trainer = trainer_type(config)
    trainer.run()
    return 0
