"""Hooks a trainer offers to the outside (the live viewer): a guard around each optimisation step and a call after
it. The default does nothing, so a run without a viewer pays for one no-op call per step."""
import contextlib


class TrainingCallbacks:
    def step_guard(self):
        """Context entered around each training step (the viewer's lock that keeps renders out of a step)."""
        return contextlib.nullcontext()

    def on_step(self, trainer, stats: dict) -> None:
        """After each step, outside the guard. ``stats``: step, loss, psnr, rays_per_second (loss-free steps
        carry only the step). May block (pause) or act on the trainer (save a checkpoint)."""
