"""Options of the converter (also the command line of apps/convert.py, through tyro)."""
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Optional, Union

from fields.distill.losses import LossWeights, StageSchedule
from fields.run.options import RunOptions, ValidationOptions, check_non_negative, check_positive


@dataclass
class ConvertConfig(ValidationOptions, LossWeights, StageSchedule, RunOptions):
    checkpoint: Path
    """The teacher: a radiance-field checkpoint (.safetensors) written by train_nerf.py or convert.py."""
    to: str = "mlp"
    """Field type of the student (any of fields.models.field_types()); the teacher's own type is allowed."""
    output: Optional[Path] = None
    """Run folder of the student (default outputs/<scene>/<type>/<time>-from-<teacher type>)."""
    max_steps: Optional[int] = None
    """Step budget (default: 20000 on a GPU; on a CPU a 10-minute budget capped at 20000 steps)."""
    max_time: Optional[float] = None
    """Wall-clock budget in seconds: distillation steps, periodic validation and checkpoint writes (not loading the
    teacher nor the final evaluation)."""
    active_learning: bool = False
    """PVD-AL: switch on hard poses, hard rays and hard points (each can be switched alone below)."""
    hard_poses: Optional[bool] = None
    """Perturb the worst views of each round into extra views (default: --active-learning)."""
    hard_rays: Optional[bool] = None
    """Mix a pool of the highest-error rays into every batch (default: --active-learning)."""
    hard_points: Optional[bool] = None
    """Restrict point-wise losses to samples with a significant weight (default: --active-learning)."""
    real_views: bool = False
    """Distil from the teacher's training views instead of random views around the scene."""
    scene: Optional[str] = None
    """Scene for --real-views and validation (default: the one the teacher was trained on, if it can be found)."""
    data_root: Optional[Path] = None
    field_options: dict[str, Union[int, float]] = dataclass_field(default_factory=dict)
    """Hyperparameters of the student as name value pairs, e.g. --field-options hidden_dim 64; default: the type's
    radiance defaults."""
    lr: Optional[float] = None
    """Adam learning rate (default: the student type's own, as for training it on images)."""
    inherit_color_head: bool = True
    """Start from the teacher's colour head (every radiance field shares its shape), so that once h matches the
    colours match too. --no-inherit-color-head learns it from scratch, as PVD does."""

    target_samples: Optional[int] = None
    """Samples per step the ray batch adapts to (default 2^18 on a GPU, 2^16 on a CPU)."""
    random_background: bool = True
    """Composite teacher and student on the same random background per ray (teaches the student opacity)."""
    views_per_round: int = 100
    """Random views drawn per round (with --real-views: the training views)."""
    round_steps: int = 50
    """Steps per round of views; hard poses are chosen at the end of each round."""
    hard_pose_ratio: float = 0.1
    """Share of a round's views counted as hard."""
    hard_pose_share: float = 0.2
    """Perturbed hard views added to the next round, as a share of its views."""
    hard_pose_translation: float = 0.05
    """Std of the camera shift of a hard pose, as a share of the orbit radius."""
    hard_pose_rotation: float = 3.0
    """Std of the camera rotation of a hard pose, in degrees."""
    hard_ray_ratio: float = 0.1
    """Share of every batch drawn from the hard-ray pool."""
    hard_ray_pool: int = 1 << 16
    """Capacity of the hard-ray pool."""
    hard_point_threshold: float = 1e-3
    """Compositing weight above which a sample is a hard point."""

    def check(self) -> None:
        """Raises ValueError naming the first option out of range."""
        check_positive(self, ["max_steps", "max_time", "lr", "target_samples", "views_per_round", "round_steps",
                              "hard_ray_pool"])
        check_non_negative(self, ["feature_weight", "sigma_weight", "color_weight", "rgb_weight", "feature_decay",
                                  "hard_pose_ratio", "hard_pose_share", "hard_pose_translation", "hard_pose_rotation",
                                  "hard_ray_ratio", "hard_point_threshold"])
        self.check_validation()
        self.check_stages()

    def level(self, name: str) -> bool:
        """Whether an active-learning level ("hard_poses", "hard_rays", "hard_points") is on."""
        own = getattr(self, name)
        return self.active_learning if own is None else own
