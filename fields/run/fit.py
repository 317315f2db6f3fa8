"""The trainable of the coordinate-fitting trainers (image and SDF fields, tri-plane fitting): minimise a loss
with Adam under a cosine learning-rate decay, driven by :func:`fields.run.loop.train_loop`."""
import math
from typing import Callable, Optional

import torch

from fields.run.loop import Budget
from fields.run.optimizer import cosine, set_lr


class LossFit:
    def __init__(self, loss: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer, budget: Budget,
                 save: Optional[Callable[["LossFit"], None]] = None):
        self.loss, self.optimizer, self.budget = loss, optimizer, budget
        self._save = save  # writes the checkpoint (None: the caller keeps the result itself)
        self.step = 0
        self.elapsed = 0.0
        self.final_loss = math.nan

    def train_step(self) -> Optional[dict]:
        set_lr(self.optimizer, cosine(self.budget.progress(self.step, self.elapsed)))
        loss = self.loss()
        self.step += 1
        self.optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        if not math.isfinite(value):
            return {"bad": True}
        loss.backward()
        self.optimizer.step()
        self.final_loss = value
        return {"loss": value}

    def validate(self) -> None:
        return None  # the fitting trainers evaluate once, after the loop

    def save(self) -> None:
        if self._save is not None:
            self._save(self)

    def summary(self) -> dict:
        return {"steps": self.step, "train_seconds": self.elapsed, "final_loss": self.final_loss}
