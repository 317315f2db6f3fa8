"""FreSh (Frequency Shifting, docs/methods.md): choose a field's embedding hyperparameter before training by
matching the spectrum of the untrained field's output to the spectrum of the signal.

For each candidate value, the untrained field is built with a few seeds and evaluated on the signal's grid; the
1-D Wasserstein distance between the first ``crop`` bins of the two spectra (:mod:`fields.init.spectrum`) is
averaged over the seeds, and the candidate with the smallest mean distance wins. One training run follows.

The families are data: a field type maps to the backbone option FreSh selects, its candidate grid and its crop.
A wrapped variant (e.g. a CAM-modulated backbone, ``cam`` among the field options) is the same family; its extra
options are passed through to every candidate model.
"""
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from fields.init.spectrum import spectrum, spectrum_distance


@dataclass(frozen=True)
class Family:
    option: str
    """The backbone option FreSh selects."""
    candidates: tuple[float, ...]
    """The default candidate grid (FreSh's published search space, trimmed where noted)."""
    crop: int
    """Spectrum bins compared (FreSh's README: 64 for SIREN, 128 otherwise); halved for radiance fields."""
    fixed: dict = field(default_factory=dict)
    """Options without which the initial spectrum says nothing; FreSh's choice is trained with them too."""


FAMILIES: dict[str, Family] = {
    "siren": Family("first_omega", tuple(float(w) for w in range(10, 201, 10)), 64),
    "ffn": Family("sigma", tuple(float(s) for s in range(1, 21)), 128),
    "finer": Family("bias_scale", tuple(round(0.1 * i, 1) for i in range(31)), 128),
    # The default hash table init (+-1e-4) leaves the untrained output to the MLP; FreSh needs "high values".
    "hash": Family("finest_resolution", (32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0), 128,
                   fixed={"table_init_scale": 1e-1}),
}


def family_of(field_type: str) -> Family:
    if field_type not in FAMILIES:
        raise ValueError(f"--init fresh: no FreSh family for field type {field_type!r}; FreSh selects "
                         + ", ".join(f"{name}: {f.option}" for name, f in FAMILIES.items())
                         + "; use --init default for other types")
    return FAMILIES[field_type]


@dataclass
class FreshResult:
    field_type: str
    option: str
    value: float
    """The selected candidate."""
    distances: dict[float, float]
    """Mean Wasserstein distance (in spectrum bins) per candidate."""
    standard_errors: dict[float, float]
    seconds: float
    crop: int
    seeds: int
    fixed: dict

    def options(self) -> dict:
        """Field options to train with: the selected value and the family's fixed options."""
        return {**self.fixed, self.option: _plain(self.value)}

    def table(self) -> str:
        lines = [f"FreSh for {self.field_type}: {self.option} = {_plain(self.value)} "
                 f"(crop {self.crop} bins, {self.seeds} seeds, {self.seconds:.1f} s)",
                 f"  {self.option:>18}  W distance (+- s.e.)"]
        for value, distance in self.distances.items():
            mark = "  <- chosen" if value == self.value else ""
            lines.append(f"  {_plain(value):>18}  {distance:8.3f} (+- {self.standard_errors[value]:.3f}){mark}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"field": self.field_type, "option": self.option, "value": _plain(self.value),
                "seconds": self.seconds, "crop": self.crop, "seeds": self.seeds, "fixed": self.fixed,
                "distances": {str(_plain(v)): d for v, d in self.distances.items()},
                "standard_errors": {str(_plain(v)): s for v, s in self.standard_errors.items()}}


def _plain(value: float):
    """2048.0 -> 2048 for integer options and tidy tables."""
    return int(value) if float(value).is_integer() else float(value)


def select(field_type: str, output_signal: Callable[[dict, int], torch.Tensor], targets: Sequence[np.ndarray],
           candidates: Optional[Sequence[float]] = None, crop: Optional[int] = None, seeds: int = 5,
           options: Optional[dict] = None) -> FreshResult:
    """Runs the FreSh selection.

    ``output_signal(options, seed)`` builds the untrained field with these backbone options under ``seed`` and
    returns its output on the target's grid ([C, n, n] or [C, n, n, n]); ``targets`` are target spectra (one per
    seed is paired in turn: several views of a scene, or one image). ``options`` are the user's other field
    options (a CAM flag, widths, ...), passed to every candidate."""
    family = family_of(field_type)
    candidates = [float(c) for c in (candidates or family.candidates)]
    crop = crop or family.crop
    if seeds < 1 or not candidates or not targets:
        raise ValueError("FreSh needs at least one seed, one candidate and one target")
    if crop < 2:
        raise ValueError(f"FreSh's spectrum crop (--fresh-crop) must be at least 2 bins, got {crop}")
    options = options or {}
    if family.option in options:
        raise ValueError(f"--init fresh selects {family.option!r}; drop it from the field options, or use "
                         f"--init default to set it by hand")
    fixed = {k: v for k, v in family.fixed.items() if k not in options}  # the user's explicit choice wins
    start = time.perf_counter()
    distances, errors = {}, {}
    with torch.no_grad():
        for value in candidates:
            trial = {**options, **fixed, family.option: _plain(value)}
            samples = [spectrum_distance(targets[seed % len(targets)], spectrum(output_signal(trial, seed)), crop)
                       for seed in range(seeds)]
            distances[value] = float(np.mean(samples))
            errors[value] = float(np.std(samples) / math.sqrt(len(samples)))
    best = min(candidates, key=lambda v: distances[v])
    return FreshResult(field_type, family.option, best, distances, errors, time.perf_counter() - start, crop, seeds,
                       fixed)
