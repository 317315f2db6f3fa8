"""Reading the teacher and checking what it is converted into: the inputs that can be wrong, with clear errors."""
from pathlib import Path
from typing import Optional

from fields.datasets import SceneNotFoundError
from fields.models import field_types
from fields.run import RunFolder, load_field, trained_scene


class ConvertError(ValueError):
    """A teacher, target type or scene that cannot be converted, with what to do about it."""


def check_target_type(field_type: str) -> None:
    if field_type not in field_types():
        raise ConvertError(f"unknown target field type {field_type!r}; valid types: {', '.join(field_types())}")


def load_teacher(path: Path, device):
    """(field, occupancy grid, meta) of a radiance-field checkpoint, or a ConvertError saying what is wrong."""
    try:
        field, grid, meta = load_field(path, device)
    except FileNotFoundError as error:
        raise ConvertError(f"teacher checkpoint not found: {error}") from None
    except (ValueError, KeyError, RuntimeError) as error:  # corrupt file, unknown field type, mismatched tensors
        raise ConvertError(f"cannot use {path} as a teacher: {error}") from None
    if field.signal != "radiance" or grid is None:
        raise ConvertError(f"{path} holds a {field.signal} field without an occupancy grid; PVD converts radiance "
                           "fields (checkpoints of train_nerf.py or convert.py)")
    field.requires_grad_(False)
    return field, grid, meta


def teacher_record(path: Path, meta: dict) -> dict:
    """What the student's config records about its teacher: path, type, step and val PSNR when its run measured
    one (eval_val.json beside the checkpoints folder)."""
    path = Path(path).resolve()
    record = {"path": str(path), "type": meta["field"]["type"], "step": meta.get("step"), "psnr": None}
    evaluation = RunFolder.of(path).read_json("eval_val.json")  # informative only: None when missing
    if evaluation is not None:
        record["psnr"] = evaluation.get("psnr")
    if meta.get("distilled_from"):
        record["distilled_from"] = meta["distilled_from"]
    return record


def teacher_scene(meta: dict, scene: Optional[str], data_root: Optional[Path]) -> Optional[Path]:
    """The scene asked for (an error if it is missing); else the one the teacher was trained on, where it was or
    found by name; None if that cannot be found."""
    if scene is not None:
        return trained_scene(meta, scene, data_root)
    if not (meta.get("scene") or meta.get("scene_path")):
        return None
    try:
        return trained_scene(meta, None, data_root)
    except SceneNotFoundError:
        return None
