"""The results table of a benchmark grid: one row per scene x field type (mean over its finished seeds), as JSON
and Markdown."""
import math
from collections import defaultdict
from statistics import mean, stdev
from typing import Optional

# (key in the run's metrics, column heading, digits)
COLUMNS = (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 4), ("lpips", "LPIPS", 4),
           ("train_seconds", "train time (s)", 1), ("size_mb", "size (MB)", 2), ("step", "steps", 0))


def grid_table(results: dict[str, dict], failures: dict[str, str], cells: list) -> dict:
    """``results``: metrics by cell key; ``failures``: error by cell key; ``cells``: the grid, in order."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for cell in cells:
        scene, field, _ = cell.key.split("/")
        if (scene, field) not in order:
            order.append((scene, field))
        if cell.key in results:
            groups[scene, field].append(results[cell.key])
    rows = []
    for scene, field in order:
        runs = groups[scene, field]
        row = {"scene": scene, "field": field, "seeds": len(runs)}
        for key, _, _ in COLUMNS:
            values = [run[key] for run in runs if run.get(key) is not None]
            row[key] = mean(values) if values and len(values) == len(runs) else None
            row[key + "_std"] = stdev(values) if row[key] is not None and len(values) > 1 else None
        rows.append(row)
    return {"rows": rows, "cells": {cell.key: results.get(cell.key) for cell in cells}, "failed": failures}


def markdown_table(table: dict) -> str:
    heading = ["scene", "field", "seeds"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(heading) + " |", "|" + "---|" * len(heading)]
    for row in table["rows"]:
        values = [row["scene"], row["field"], str(row["seeds"])]
        values += [_format(row[key], row[key + "_std"], digits) for key, _, digits in COLUMNS]
        lines.append("| " + " | ".join(values) + " |")
    text = "\n".join(lines) + "\n\nMean over the finished seeds (± their standard deviation); PSNR, SSIM and LPIPS " \
                              "on the val split, white background; train time excludes evaluation.\n"
    if table["failed"]:
        text += "\nFailed cells (a rerun tries them again):\n\n"
        text += "".join(f"- {key}: {error}\n" for key, error in table["failed"].items())
    return text


def _format(value: Optional[float], std: Optional[float], digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if std is not None else "")
