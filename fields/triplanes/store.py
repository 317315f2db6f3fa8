"""The on-disk layout of a fitted collection: one file per shape, written atomically, so a rerun skips finished
shapes.

    OUT/<class>/<shape>.safetensors   tensors "planes" [3, C, R, R], "points" [P, 3], "decoder.*"; metadata "record"
                                      (JSON: class, mesh, relative path, metrics, field config)
    OUT/<class>/<shape>.failed.json   why a shape was skipped (unreadable mesh, diverged fit)
    OUT/summary.json                  counts, failures and mean metrics of the whole collection
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

MESH_SUFFIXES = (".obj", ".ply", ".off")
TRIPLANE_SUFFIX = ".safetensors"
FAILED_SUFFIX = ".failed.json"


@dataclass(frozen=True)
class ShapeJob:
    mesh_path: str
    relative_path: str  # "<class>/<file name>": names the shape everywhere and seeds its fit
    label: str

    def stem(self) -> str:
        return str(Path(self.relative_path).with_suffix(""))


def find_meshes(meshes: str | Path) -> list[ShapeJob]:
    """Every mesh of a ModelNet-style folder ``DIR/<class>/<shape>.obj|ply|off``, sorted."""
    root = Path(meshes)
    if not root.is_dir():
        raise FileNotFoundError(f"mesh folder {root} does not exist; pass --meshes DIR with DIR/<class>/<shape>.obj "
                                f"(make one with apps/make_shapes.py)")
    jobs = [ShapeJob(str(path), path.relative_to(root).as_posix(), path.parent.name)
            for path in sorted(root.glob("*/*")) if path.suffix.lower() in MESH_SUFFIXES]
    if not jobs:
        raise FileNotFoundError(f"no meshes ({', '.join(MESH_SUFFIXES)}) in class folders under {root}; expected "
                                f"DIR/<class>/<shape>.obj")
    return jobs


def triplane_path(output: Path, job: ShapeJob) -> Path:
    return output / (job.stem() + TRIPLANE_SUFFIX)


def failed_path(output: Path, job: ShapeJob) -> Path:
    return output / (job.stem() + FAILED_SUFFIX)


def is_done(output: Path, job: ShapeJob, retry_failed: bool) -> bool:
    return triplane_path(output, job).exists() or (not retry_failed and failed_path(output, job).exists())


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_result(output: Path, job: ShapeJob, result: dict) -> None:
    tensors = {"planes": result["planes"].contiguous(), "points": result["points"].contiguous()}
    tensors |= {f"decoder.{name}": t.contiguous() for name, t in result["decoder"].items()}
    record = {"label": job.label, "mesh": job.mesh_path, "relative_path": job.relative_path,
              "metrics": result["metrics"], "field_config": result["field_config"]}
    _atomic_write(triplane_path(output, job), lambda tmp: save_file(tensors, str(tmp), {"record": json.dumps(record)}))
    failed_path(output, job).unlink(missing_ok=True)


def write_failure(output: Path, job: ShapeJob, error: str) -> None:
    record = {"label": job.label, "mesh": job.mesh_path, "relative_path": job.relative_path, "error": error}
    _atomic_write(failed_path(output, job), lambda tmp: tmp.write_text(json.dumps(record, indent=1)))


def read_record(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return json.loads(handle.metadata()["record"])
    except (SafetensorError, OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable tri-plane file (truncated or corrupt?): {error}; delete it and "
                         f"run apps/fit_triplanes.py again to refit that shape") from None


def read_triplane(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, record) of one fitted shape."""
    record = read_record(path)  # checks the file first
    return load_file(str(path)), record


def collection_summary(output: Path) -> dict:
    """Counts, failures and mean fitting metrics of everything under ``output`` (this run and earlier ones)."""
    records = [read_record(path) for path in sorted(output.glob(f"*/*{TRIPLANE_SUFFIX}"))]
    failures = [json.loads(path.read_text()) for path in sorted(output.glob(f"*/*{FAILED_SUFFIX}"))]
    metrics = [r["metrics"] for r in records]

    def mean(key):
        return sum(m[key] for m in metrics) / len(metrics) if metrics else None

    return {"fitted": len(records), "failed": len(failures),
            "classes": sorted({r["label"] for r in records}),
            "mean_iou": mean("iou"), "mean_chamfer": mean("chamfer"), "mean_fit_seconds": mean("fit_seconds"),
            "failures": [{"shape": f["relative_path"], "error": f["error"]} for f in failures]}
