"""Options of the trainers (also the command lines of apps/train_nerf.py, train_image.py and train_sdf.py, through
tyro)."""
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Literal, Optional, Union

from fields.run.options import RunOptions, ValidationOptions, check_non_negative, check_positive


@dataclass(kw_only=True)
class FieldOptions(RunOptions):
    """The field a trainer fits and how it starts, shared by the radiance, image and SDF trainers."""

    field: str = "hash"
    """Field type (any of fields.models.field_types(): hash, mlp, ffn, siren, finer, ...)."""
    lr: Optional[float] = None
    """Adam learning rate (default: the field type's own, 1e-2 for hash)."""
    field_options: dict[str, Union[int, float]] = dataclass_field(default_factory=dict)
    """Overrides of the field's hyperparameters as name value pairs, e.g. --field-options log2_hashmap_size 17."""
    init: Literal["default", "fresh"] = "default"
    """How the field's embedding hyperparameter is set: the type's default, or FreSh (before training, the value
    whose untrained output spectrum best matches the signal's; siren: first_omega, ffn: sigma, finer: bias_scale,
    hash: finest_resolution with a high-value table init)."""
    fresh_candidates: Optional[list[float]] = None
    """FreSh candidate values (default: the family's grid in fields.init.FAMILIES)."""
    fresh_seeds: int = 5
    """Untrained fields per candidate whose distances FreSh averages."""
    fresh_crop: Optional[int] = None
    """Spectrum bins FreSh compares (default: the family's, FreSh's README values: 64 for siren, 128 otherwise;
    halved for radiance fields). FreSh set them for 512-1024 px signals; see BENCHMARKS.md for smaller ones."""
    cam: bool = False
    """Coordinate-aware modulation (CAM) of the hidden layers: for radiance fields (any type) of the colour head by
    the view direction; for images by the pixel, for SDFs by the point through additive xy/xz/yz planes (mlp, ffn,
    siren, finer)."""
    cam_resolution: Optional[tuple[int, ...]] = None
    """CAM grid resolution (default: 10 3, azimuth x elevation, for radiance fields; 32 32 for images; 16 for
    SDFs)."""
    quantize: bool = False
    """Train weights and CAM grids with 8-bit min-max quantisation (straight-through); size_mb counts 1 byte each."""

    def check(self) -> None:
        """Raises ValueError naming the first option out of range."""
        check_positive(self, ["lr", "fresh_seeds"])


@dataclass
class TrainNerfConfig(ValidationOptions, FieldOptions):
    scene: Optional[str] = None
    """Scene name (lego means nerf_synthetic/lego) or a path to a scene folder (default: lego; with --resume, the
    scene the run was trained on)."""
    data_root: Optional[Path] = None
    """Where scenes live; otherwise $FIELDS_DATA_ROOT, ./data, then ../shared/data are searched."""
    max_steps: Optional[int] = None
    """Step budget (default: 20000 on a GPU; on a CPU the default is a 10-minute budget capped at 20000 steps)."""
    max_time: Optional[float] = None
    """Wall-clock budget in seconds: training steps, periodic validation and checkpoint writes (not loading the data
    nor the final evaluation). A resumed run continues the count."""
    output: Optional[Path] = None
    """Run folder (default outputs/<scene>/<field>/<time>). With --resume: the run to continue (default: the latest)."""
    resume: bool = False
    """Continue from <output>/checkpoints/latest.safetensors."""
    downscale: Optional[int] = None
    """Integer image downscale factor for training and validation (default: on a CPU, the smallest factor that brings
    an image to at most 1.6 megapixels, so 1 for NeRF-synthetic and 2 for 1920x1080 photos; on a GPU 1; raised
    further when the images would not fit in memory)."""
    image_cache: Optional[Path] = None
    """Decode the images once into a cache file in this folder and memory-map them from there (for captures larger
    than memory)."""

    weight_decay: float = 1e-6
    warmup_steps: int = 100
    target_samples: Optional[int] = None
    """Samples per step the ray batch adapts to (default 2^18 on a GPU, 2^16 on a CPU): those that go through the
    field with gradients, not counting the ones behind each ray's early-termination point."""
    render_step_size: Union[float, Literal["auto"]] = "auto"
    """Ray-marching step; auto: chosen from the scene (fields/render/scene_settings.py; 5e-3 on bounded scenes)."""
    cone_angle: Union[float, Literal["auto"]] = "auto"
    """The step grows as distance x cone angle; auto: 1/256 on unbounded captures (aabb_scale > 1), else 0."""
    grid_resolution: Union[int, Literal["auto"]] = "auto"
    """Occupancy-grid cells per axis of each level; auto: 128 on bounded scenes, fewer per level on unbounded ones
    (the cascade keeps one 128^3 level's cell count, which sets the cost of the grid's updates)."""
    grid_levels: Union[int, Literal["auto"]] = "auto"
    """Occupancy-grid levels (each twice the last); auto: 1 on bounded scenes, 1 + log2(box side) on unbounded ones,
    whose field box auto may also enlarge to hold the cameras and the SfM points."""
    appearance_dim: int = 0
    """Per-training-image appearance code fed to the colour head (exposure, white balance); 0: off. Held-out views
    are rendered with the mean code of the training images."""
    random_background: bool = True
    """Train on a random background colour per ray (evaluation always uses white)."""

    save_every: int = 2000
    """Write a checkpoint every N steps."""
    eval_downscale: Optional[int] = None
    """Final evaluation renders the val views this many times smaller again than --downscale (default: 1 for
    NeRF-synthetic scenes, evaluated at full size as published; for captures on a CPU the smallest factor that brings
    a view to at most 0.5 megapixels; on a GPU 1)."""

    viewer: bool = False
    """Serve a live browser viewer of the field while it trains (apps/train_nerf.py prints its URL)."""
    viewer_host: str = "127.0.0.1"
    """Interface the viewer listens on; 0.0.0.0 serves other machines too."""
    viewer_port: int = 7007
    viewer_wait: bool = True
    """Keep the viewer open after training until Ctrl+C."""

    fresh_seeds: int = 4  # fewer untrained fields than for images and SDFs: each one renders the views
    fresh_views: int = 4
    """Training views FreSh compares against renders of the untrained field."""
    fresh_side: int = 64
    """Side (pixels) of those views and renders."""

    cam_trunk_resolution: Optional[int] = None
    """Also modulate the trunk of mlp/ffn/siren/finer fields by xyz through additive tri-planes of this resolution."""

    def check(self) -> None:
        """Raises ValueError naming the first option out of range."""
        explicit = [n for n in ("render_step_size", "grid_levels", "grid_resolution") if getattr(self, n) != "auto"]
        super().check()
        self.check_validation()
        check_positive(self, ["max_steps", "max_time", "downscale", "target_samples", *explicit, "save_every",
                              "eval_downscale", "fresh_views", "fresh_side", "cam_trunk_resolution"])
        check_non_negative(self, ["weight_decay", "warmup_steps", "appearance_dim",
                                  *(["cone_angle"] if self.cone_angle != "auto" else [])])


@dataclass(kw_only=True)
class FitConfig(FieldOptions):
    """Options the image and SDF trainers share (each adds its signal's own)."""

    max_steps: Optional[int] = None
    """Step budget (default 2000)."""
    max_time: Optional[float] = None
    """Wall-clock budget in seconds for the training loop (not loading the signal nor the evaluation)."""
    output: Optional[Path] = None
    """Run folder (default outputs/images|sdf/<image or mesh name>/<field>/<time>)."""

    def check(self) -> None:
        super().check()
        check_positive(self, ["max_steps", "max_time"])


@dataclass
class TrainImageConfig(FitConfig):
    image: Path
    """Image to fit (PNG, JPEG or EXR)."""
    holdout_every: Optional[int] = None
    """Hold out every K-th pixel (raster order) from training and report PSNR on those pixels too."""
    batch_size: Optional[int] = None
    """Pixels per step (default: every training pixel, up to 2^18)."""
    fresh_side: int = 512
    """FreSh compares spectra on a square of side min(H, W, fresh_side)."""

    def check(self) -> None:
        super().check()
        check_positive(self, ["batch_size", "fresh_side"])
        if self.holdout_every is not None and self.holdout_every < 2:
            raise ValueError("--holdout-every must be at least 2 (every K-th pixel is held out)")


@dataclass
class TrainSdfConfig(FitConfig):
    mesh: Path
    """Mesh to fit (OBJ, PLY, OFF, STL); normalised into [-1, 1]^3. Need not be watertight."""
    batch_size: int = 1 << 14
    """Points per step."""
    pool_size: int = 1 << 19
    """Points sampled once (half near the surface, half uniform) with their exact signed distances."""
    eval_resolution: int = 128
    """Grid for the occupancy IoU and the marching-cubes surface of the Chamfer distance."""
    fresh_grid: int = 64
    """FreSh compares spectra of the SDF sampled on a fresh_grid^3 grid."""

    def check(self) -> None:
        super().check()
        check_positive(self, ["batch_size", "pool_size"])
        if self.eval_resolution < 8:
            raise ValueError(f"--eval-resolution must be at least 8 (grid points per side), got "
                             f"{self.eval_resolution}")
        if self.fresh_grid < 8:
            raise ValueError(f"--fresh-grid must be at least 8, got {self.fresh_grid}")
