"""The run layer every trainer, the PVD converter and every app stand on: devices, the run folder, checkpoints,
option checks, evaluation, the one training loop, and the apps' shared main wrapper."""
from fields.run.app import AppError, exit_code, fail, run_app, user_errors
from fields.run.callbacks import TrainingCallbacks
from fields.run.checkpoint import load_field, restore_optimizer, save_training_state
from fields.run.device import resolve_device, training_device
from fields.run.evaluation import PixelSubset, evaluate_views, evaluation_downscale, render_field_view, save_png
from fields.run.folder import RunFolder, checkpoint_path, write_json
from fields.run.interrupts import Interrupted
from fields.run.loop import Budget, Cadence, LoopResult, MAX_BAD_STEPS, running_psnr, train_loop
from fields.run.optimizer import cosine, make_optimizer, set_lr, step_decay
from fields.run.options import JsonConfig, check_non_negative, check_positive
from fields.run.scene import scene_fingerprint, trained_scene

__all__ = [
    "AppError", "Budget", "Cadence", "Interrupted", "JsonConfig", "LoopResult", "MAX_BAD_STEPS", "PixelSubset",
    "RunFolder", "TrainingCallbacks", "check_non_negative", "check_positive", "checkpoint_path", "cosine",
    "evaluate_views", "evaluation_downscale", "exit_code", "fail", "load_field", "make_optimizer", "render_field_view",
    "resolve_device", "restore_optimizer", "run_app", "running_psnr", "save_png", "save_training_state",
    "scene_fingerprint", "set_lr", "step_decay", "train_loop", "trained_scene", "training_device", "user_errors",
    "write_json",
]
