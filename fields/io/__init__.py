"""Reading and writing project files: checkpoints (safetensors + JSON, atomic, never pickled)."""
from fields.io.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint

__all__ = ["CheckpointError", "checkpoint_paths", "load_checkpoint", "save_checkpoint"]
