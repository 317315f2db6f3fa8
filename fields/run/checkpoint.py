"""Saving and restoring a trained field of any signal (with its occupancy grid for radiance fields, and the
optimiser for --resume) as safetensors + JSON. Every app that reads a trained field goes through :func:`load_field`."""
from pathlib import Path

import torch

from fields.io import load_checkpoint, save_checkpoint
from fields.models import build_field
from fields.render import OccupancyGrid
from fields.run.folder import checkpoint_path

FORMAT = "fields-field-1"


def save_training_state(path: Path, field, grid, optimizer, meta: dict) -> None:
    """``grid`` is the occupancy grid of a radiance field, None for other signals."""
    tensors = {f"field.{k}": v for k, v in field.state_dict().items()}
    if grid is not None:
        tensors.update({f"grid.{k}": v for k, v in grid.state_dict().items()})
    optim_state = optimizer.state_dict()
    for index, state in optim_state["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
    grid_meta = None if grid is None else {"aabb": [float(v) for v in grid.aabb.tolist()],
                                           "resolution": grid.resolution, "levels": grid.levels}
    save_checkpoint(path, tensors, {**meta, "format": FORMAT, "field": field.config, "grid": grid_meta,
                                    "optimizer": {"param_groups": optim_state["param_groups"]}})


def _with_prefix(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_field(path: Path, device: torch.device | str = "cpu"):
    """Rebuilds the field (and, for radiance fields, its occupancy grid) from a checkpoint or a run folder.
    Returns (field, grid or None, meta)."""
    path = checkpoint_path(path)
    tensors, meta = load_checkpoint(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a field checkpoint of this toolkit (format {meta.get('format')!r}); "
                         "checkpoints are written by apps/train_*.py and apps/convert.py")
    field = build_field(meta["field"])
    field.load_state_dict(_with_prefix(tensors, "field."))
    grid = None
    if meta.get("grid") is not None:
        grid = OccupancyGrid(**meta["grid"])
        grid.load_state_dict(_with_prefix(tensors, "grid."))
        grid = grid.to(device)
    return field.to(device).eval(), grid, meta


def restore_optimizer(optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in _with_prefix(tensors, "optimizer.").items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
