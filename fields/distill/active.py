"""PVD-AL's three levels of active learning: hard poses, hard rays and hard points. Each one is independent of
the others and of the field types; the converter switches each on or off."""
import torch

from fields.distill.poses import Views, perturb


def significant_points(student_weights: torch.Tensor, teacher_weights: torch.Tensor,
                       threshold: float) -> torch.Tensor:
    """Hard points: samples that matter to either field's rendering (compositing weight above ``threshold``).
    Samples that neither field sees (empty space, or behind a surface) are left out of the point-wise losses."""
    return (student_weights > threshold) | (teacher_weights > threshold)


class HardRayPool:
    """Hard rays: the ``capacity`` rays with the highest error seen so far. A share of every batch is drawn from
    the pool; drawn rays leave it and come back, with their new error, only if they are still among the worst."""

    def __init__(self, capacity: int, device):
        self.capacity = capacity
        self.origins = torch.empty(0, 3, device=device)
        self.directions = torch.empty(0, 3, device=device)
        self.errors = torch.empty(0, device=device)

    def __len__(self) -> int:
        return int(self.errors.shape[0])

    def take(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Removes up to ``count`` random rays from the pool and returns (origins, directions)."""
        count = min(count, len(self))
        order = torch.randperm(len(self), device=self.errors.device, generator=generator)
        taken, kept = order[:count], order[count:]
        origins, directions = self.origins[taken], self.directions[taken]
        self.origins, self.directions, self.errors = self.origins[kept], self.directions[kept], self.errors[kept]
        return origins, directions

    def offer(self, origins: torch.Tensor, directions: torch.Tensor, errors: torch.Tensor) -> None:
        """Adds a batch's rays and keeps the ``capacity`` worst of pool and batch."""
        origins = torch.cat([self.origins, origins.detach()])
        directions = torch.cat([self.directions, directions.detach()])
        errors = torch.cat([self.errors, errors.detach()])
        if errors.shape[0] > self.capacity:
            worst = torch.topk(errors, self.capacity).indices
            origins, directions, errors = origins[worst], directions[worst], errors[worst]
        self.origins, self.directions, self.errors = origins, directions, errors


class PoseErrors:
    """Per-view mean squared error of the rays drawn from each view during one round of views."""

    def __init__(self, count: int, device):
        self.sums = torch.zeros(count, device=device)
        self.counts = torch.zeros(count, device=device)

    def add(self, view_indices: torch.Tensor, errors: torch.Tensor) -> None:
        self.sums.index_add_(0, view_indices, errors.detach())
        self.counts.index_add_(0, view_indices, torch.ones_like(errors))

    def hardest(self, ratio: float) -> torch.Tensor:
        """Indices of the ``ratio`` share of the views with the highest mean error (among views that were seen)."""
        seen = self.counts > 0
        mean = torch.where(seen, self.sums / self.counts.clamp_min(1.0), torch.full_like(self.sums, -1.0))
        count = max(1, int(round(ratio * int(seen.sum())))) if bool(seen.any()) else 0
        return torch.topk(mean, count).indices


def hard_poses(views: Views, errors: PoseErrors, ratio: float, count: int, translation: float,
               rotation_degrees: float, generator: torch.Generator) -> Views:
    """Hard poses: ``count`` perturbations of the hardest ``ratio`` of ``views`` (by mean ray error)."""
    hardest = errors.hardest(ratio).cpu()
    if hardest.numel() == 0 or count == 0:
        return Views(views.c2w[:0], views.intrinsics[:0], views.width, views.height)
    subset = Views(views.c2w[hardest.to(views.c2w.device)], views.intrinsics[hardest.to(views.c2w.device)],
                   views.width, views.height)
    return perturb(subset, count, translation, rotation_degrees, generator)
