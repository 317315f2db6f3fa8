"""Checkpoints: tensors in ``<name>.safetensors``, metadata in ``<name>.json`` beside it. Never pickled.

Writes are atomic: each file is written to a temporary file in the same directory, flushed to disk (fsync), and
only then renamed over the previous one (``os.replace``), both renames back to back after every byte is on disk.
A crash or error while writing leaves the previous checkpoint as it was and no temporary file behind.

The metadata is also embedded in the safetensors header (key ``fields_meta``), so the weights file alone is a
complete checkpoint and the authoritative copy; the JSON file is the human-readable twin that tools and people
read. Should the two ever disagree (an interrupted save between the two renames, a hand edit), loading uses the
embedded copy and warns.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

META_KEY = "fields_meta"
FORMAT_KEY = "fields_format"
FORMAT = "fields-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file exists but cannot be read (truncated, corrupt, not a checkpoint)."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights ``.safetensors`` path, metadata ``.json`` path) for ``path`` given with either suffix or none."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Atomically write ``tensors`` (any device; saved from CPU copies) and the JSON-serialisable ``meta``; returns
    the ``.safetensors`` path (the ``.json`` twin sits beside it)."""
    weights_path, meta_path = checkpoint_paths(path)
    meta_text = _meta_to_json(meta)
    cpu_tensors = _prepare_tensors(tensors)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    header = {META_KEY: meta_text, FORMAT_KEY: FORMAT}
    temporaries: list[Path] = []
    try:
        temporaries.append(_write_temporary(weights_path, lambda tmp: save_file(cpu_tensors, tmp, metadata=header)))
        temporaries.append(_write_temporary(meta_path, lambda tmp: Path(tmp).write_text(meta_text + "\n")))
        os.replace(temporaries[0], weights_path)
        os.replace(temporaries[1], meta_path)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(weights_path.parent)  # make the renames themselves durable
    return weights_path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: (tensors on ``device``, metadata dict)."""
    weights_path, meta_path = checkpoint_paths(path)
    if not weights_path.is_file():
        directory = weights_path.parent
        siblings = sorted(p.name for p in directory.glob("*.safetensors")) if directory.is_dir() else []
        raise FileNotFoundError(f"Checkpoint weights not found: {weights_path}. "
                                + (f"Checkpoints in that directory: {', '.join(siblings)}." if siblings
                                   else "No checkpoints there."))
    try:
        with safe_open(str(weights_path), framework="pt", device=str(device)) as weights:
            header = weights.metadata() or {}
            tensors = {name: weights.get_tensor(name) for name in weights.keys()}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file (truncated or corrupt?): {error}. "
                              "Use an earlier checkpoint or retrain.") from None
    return tensors, _read_meta(header, weights_path, meta_path)


def _meta_to_json(meta: dict) -> str:
    if not isinstance(meta, dict):
        raise TypeError(f"save_checkpoint: meta must be a dict, got {type(meta).__name__}")
    try:
        return json.dumps(meta, indent=2)
    except (TypeError, ValueError) as error:
        raise TypeError(f"save_checkpoint: meta must be JSON-serialisable ({error}); convert tensors and arrays to "
                        "lists or numbers first, and put large arrays in `tensors`") from None


def _prepare_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached contiguous CPU tensors, no two sharing memory (safetensors refuses shared storage)."""
    prepared: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise TypeError(f"save_checkpoint: tensors must map str to torch.Tensor; entry {name!r} does not")
        tensor = tensor.detach().to("cpu").contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in storages and tensor.numel() > 0:
            tensor = tensor.clone()
            storage = tensor.untyped_storage().data_ptr()
        storages.add(storage)
        prepared[name] = tensor
    return prepared


def _write_temporary(target: Path, write: Callable[[str], object]) -> Path:
    """Write through ``write(temporary_path)`` to a new file beside ``target``, fsync it, and return its path."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(name)
        os.chmod(name, 0o644)  # mkstemp creates 0600; a checkpoint is an ordinary file
        descriptor = os.open(name, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the renames are still atomic there
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _read_meta(header: dict, weights_path: Path, meta_path: Path) -> dict:
    embedded = _parse_meta(header[META_KEY], weights_path) if META_KEY in header else None
    sidecar = None
    if meta_path.is_file():
        try:
            sidecar = _parse_meta(meta_path.read_text(encoding="utf-8"), meta_path)
        except CheckpointError:
            if embedded is None:
                raise
            warnings.warn(f"{meta_path} is unreadable; using the metadata embedded in {weights_path}", stacklevel=3)
    if embedded is None:
        if sidecar is None:
            raise CheckpointError(f"{weights_path} has no embedded metadata and {meta_path} does not exist")
        return sidecar
    if sidecar is not None and _canonical(sidecar) != _canonical(embedded):
        warnings.warn(f"{meta_path} differs from the metadata embedded in {weights_path} (interrupted save or hand "
                      "edit); using the embedded copy", stacklevel=3)
    return embedded


def _canonical(meta: dict) -> str:
    return json.dumps(meta, sort_keys=True)  # compares NaN equal to NaN, unlike dict ==


def _parse_meta(text: str, source: Path) -> dict:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{source}: invalid checkpoint metadata JSON at line {error.lineno}, column "
                              f"{error.colno}: {error.msg}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source}: checkpoint metadata must be a JSON object, got {type(meta).__name__}")
    return meta
