"""The fitted tri-planes of a collection (written by :mod:`fields.triplanes.collection`) as tensors, with a
stratified train/test split."""
from dataclasses import dataclass
from pathlib import Path

import torch

from fields.triplanes.store import TRIPLANE_SUFFIX, read_triplane


@dataclass
class TriplaneCollection:
    planes: torch.Tensor  # [N, 3, C, R, R]
    points: torch.Tensor  # [N, P, 3] surface points of the same (normalised) meshes
    labels: torch.Tensor  # [N] class indices
    classes: list[str]
    names: list[str]  # relative paths of the meshes

    @classmethod
    def load(cls, folder: str | Path) -> "TriplaneCollection":
        paths = sorted(Path(folder).glob(f"*/*{TRIPLANE_SUFFIX}"))
        if not paths:
            raise FileNotFoundError(f"no fitted tri-planes (*/*{TRIPLANE_SUFFIX}) in {folder}; fit them first with "
                                    f"apps/fit_triplanes.py --meshes DIR --output {folder}")
        loaded = [read_triplane(path) for path in paths]
        shapes = {tuple(tensors["planes"].shape) for tensors, _ in loaded}
        if len(shapes) > 1:
            raise ValueError(f"tri-planes in {folder} have different shapes {sorted(shapes)}; fit one collection "
                             f"with one set of settings")
        classes = sorted({record["label"] for _, record in loaded})
        if len(classes) < 2:
            raise ValueError(f"{folder} holds a single class ({classes}); classification needs at least two")
        return cls(planes=torch.stack([tensors["planes"] for tensors, _ in loaded]),
                   points=torch.stack([tensors["points"] for tensors, _ in loaded]),
                   labels=torch.tensor([classes.index(record["label"]) for _, record in loaded]),
                   classes=classes, names=[record["relative_path"] for _, record in loaded])

    def split(self, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, test) indices: the same fraction of every class goes to test (at least one shape per class)."""
        generator = torch.Generator().manual_seed(seed)
        train, test = [], []
        for label in range(len(self.classes)):
            members = torch.nonzero(self.labels == label).flatten()
            members = members[torch.randperm(len(members), generator=generator)]
            n_test = max(1, round(test_fraction * len(members))) if len(members) > 1 else 0
            test.append(members[:n_test])
            train.append(members[n_test:])
        return torch.cat(train), torch.cat(test)
