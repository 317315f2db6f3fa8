"""Structure from motion with pycolmap on the CPU: SIFT features, matching, mapping (COLMAP, no binary needed).

Everything goes through one COLMAP database, ``colmap/database.db`` in the scene folder, so an interrupted run
continues where it stopped: features are extracted in chunks and images that already have keypoints are skipped;
pairs are matched in chunks and COLMAP skips pairs already in the database. Mapping starts again from the matches.

Matching (``--matching``): ``exhaustive`` tries every pair (best for unordered photos; n² pairs); ``sequential``
pairs each frame with the next ``SEQUENTIAL_OVERLAP`` frames and with frames 2^k ahead (loop closure on video);
``vocab-tree`` retrieves likely pairs with a vocabulary tree file (large unordered sets; the file must be on disk,
nothing is downloaded); ``auto`` is sequential for video, exhaustive up to ``EXHAUSTIVE_LIMIT`` images, and an
error asking for a vocabulary tree or sequential matching beyond that.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import pycolmap

from fields.capture.errors import CaptureError
from fields.capture.progress import run_interruptible, stage_bar

CAMERA_MODELS = ("OPENCV", "SIMPLE_RADIAL", "PINHOLE", "OPENCV_FISHEYE")
MATCHERS = ("auto", "exhaustive", "sequential", "vocab-tree")
MAPPERS = ("incremental", "global")
EXHAUSTIVE_LIMIT = 300
SEQUENTIAL_OVERLAP = 10
FEATURE_CHUNK = 16  # images per extraction call: the progress bar moves, and Ctrl+C loses at most one chunk
PAIR_CHUNK = 1024  # pairs per matching call: each call has a set-up cost (256 was 5-14 % slower than one call)
MIN_MODEL_SIZE = 3  # COLMAP drops models below 10 images by default; small captures and partial failures need them


@dataclass(frozen=True)
class FeatureOptions:
    camera_model: str = "OPENCV"
    shared_camera: bool = True
    max_image_size: int = 1600


@dataclass(frozen=True)
class MatchOptions:
    method: str = "exhaustive"  # resolved: never "auto"
    vocab_tree: str | None = None


def resolve_matching(requested: str, n_images: int, from_video: bool, vocab_tree: Path | None) -> MatchOptions:
    """The matching method ``requested`` resolves to, checked against what is on disk."""
    if requested not in MATCHERS:
        raise CaptureError(f"--matching must be one of {', '.join(MATCHERS)}, got {requested!r}")
    method = requested
    if requested == "auto":
        if from_video:
            method = "sequential"
        elif n_images <= EXHAUSTIVE_LIMIT:
            method = "exhaustive"
        elif vocab_tree is not None:
            method = "vocab-tree"
        else:
            raise CaptureError(
                f"{n_images} unordered images are too many for exhaustive matching (over {EXHAUSTIVE_LIMIT}); pass "
                "--matching vocab-tree --vocab-tree FILE (a COLMAP vocabulary tree on disk), --matching sequential "
                "if the images are in capture order, or --matching exhaustive to try every pair anyway")
    if method == "vocab-tree":
        if vocab_tree is None or not Path(vocab_tree).is_file():
            where = f" ({vocab_tree} does not exist)" if vocab_tree is not None else ""
            raise CaptureError(
                f"--matching vocab-tree needs a vocabulary tree file on disk{where}; nothing is downloaded. Get one "
                "from COLMAP's website (e.g. vocab_tree_flickr100K_words32K.bin), pass --vocab-tree FILE, or use "
                "--matching exhaustive / sequential")
        return MatchOptions(method, str(Path(vocab_tree).resolve()))
    return MatchOptions(method)


def extract_features(database: Path, images_dir: Path, names: list[str], options: FeatureOptions) -> None:
    """SIFT features of the images ``names`` (file names in ``images_dir``) into ``database``."""
    if options.camera_model not in CAMERA_MODELS:
        raise CaptureError(f"--camera-model must be one of {', '.join(CAMERA_MODELS)}, got {options.camera_model!r}")
    done, camera_id = _images_with_features(database)
    todo = [name for name in names if name not in done]
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = options.max_image_size
    extraction.use_gpu = False
    with stage_bar("features", len(names), "img") as bar:
        bar.update(len(names) - len(todo))
        for start in range(0, len(todo), FEATURE_CHUNK):
            chunk = todo[start:start + FEATURE_CHUNK]
            reader = pycolmap.ImageReaderOptions()
            reader.camera_model = options.camera_model
            if options.shared_camera and camera_id is not None:
                reader.existing_camera_id = camera_id  # later chunks join the camera the first one created
            mode = pycolmap.CameraMode.SINGLE if options.shared_camera else pycolmap.CameraMode.PER_IMAGE
            run_interruptible(lambda token: pycolmap.extract_features(
                database, images_dir, image_names=chunk, camera_mode=mode, reader_options=reader,
                extraction_options=extraction, device=pycolmap.Device.cpu, cancellation_token=token))
            if camera_id is None:
                _, camera_id = _images_with_features(database)
            bar.update(len(chunk))


def match_features(database: Path, names: list[str], options: MatchOptions, work_dir: Path) -> int:
    """Match and geometrically verify image pairs; returns the number of pairs tried (0 for vocab-tree: COLMAP
    chooses them)."""
    matching = pycolmap.FeatureMatchingOptions()
    matching.use_gpu = False
    if options.method == "vocab-tree":
        pairing = pycolmap.VocabTreePairingOptions()
        pairing.vocab_tree_path = options.vocab_tree
        with stage_bar("matching", None, "call"):
            run_interruptible(lambda token: pycolmap.match_vocabtree(
                database, matching_options=matching, pairing_options=pairing, device=pycolmap.Device.cpu,
                cancellation_token=token))
        return 0
    pairs = image_pairs(names, options.method)
    pair_file = work_dir / "pairs.txt"
    with stage_bar("matching", len(pairs), "pair") as bar:
        for start in range(0, len(pairs), PAIR_CHUNK):
            chunk = pairs[start:start + PAIR_CHUNK]
            pair_file.write_text("".join(f"{a} {b}\n" for a, b in chunk))
            pairing = pycolmap.ImportedPairingOptions()
            pairing.match_list_path = str(pair_file)
            run_interruptible(lambda token: pycolmap.match_image_pairs(
                database, matching_options=matching, pairing_options=pairing, device=pycolmap.Device.cpu,
                cancellation_token=token))
            bar.update(len(chunk))
    pair_file.unlink(missing_ok=True)
    return len(pairs)


def image_pairs(names: list[str], method: str) -> list[tuple[str, str]]:
    """The pairs to match: all of them, or (sequential) neighbours in order plus frames 2^k ahead."""
    if method == "exhaustive":
        return list(itertools.combinations(names, 2))
    pairs = set()
    for i in range(len(names)):
        ahead = set(range(1, SEQUENTIAL_OVERLAP + 1)) | {2**k for k in range(len(names).bit_length())}
        pairs |= {(i, i + step) for step in ahead if i + step < len(names)}
    return [(names[i], names[j]) for i, j in sorted(pairs)]


def map_images(database: Path, images_dir: Path, output_dir: Path, mapper: str, n_images: int
               ) -> list[pycolmap.Reconstruction]:
    """Run the mapper; returns the reconstructions found, largest first (several: the images fell apart into
    groups without matches between them)."""
    if mapper not in MAPPERS:
        raise CaptureError(f"--mapper must be one of {', '.join(MAPPERS)}, got {mapper!r}")
    output_dir.mkdir(parents=True, exist_ok=True)
    incremental, glomap = pycolmap.IncrementalPipelineOptions(), pycolmap.GlobalPipelineOptions()
    incremental.min_model_size = glomap.min_model_size = MIN_MODEL_SIZE  # keep small models: we report them
    # The lens distortion is estimated once every image is in (refine_lens): estimated while the model grows from its
    # first two images, it drifted on lego's renders and the mapper then failed to register most images (68 of 200,
    # or 15 in another run, against 200 of 200 with it held until the end).
    incremental.ba_refine_extra_params = False
    with stage_bar("mapping", n_images if mapper == "incremental" else None, "img") as bar:
        if mapper == "incremental":
            models = run_interruptible(lambda token: pycolmap.incremental_mapping(
                database, images_dir, output_dir, options=incremental,
                initial_image_pair_callback=lambda: bar.update(2), next_image_callback=lambda: bar.update(1),
                cancellation_token=token))
        else:  # GLOMAP takes no cancellation token: Ctrl+C stops the process (see apps/process_data.py)
            models = run_interruptible(
                lambda token: pycolmap.global_mapping(database, images_dir, output_dir, options=glomap))
    models = sorted(models.values(), key=lambda model: model.num_reg_images(), reverse=True)
    if mapper == "incremental" and models:
        refine_lens(models[0])
    return models


def refine_lens(model: pycolmap.Reconstruction) -> None:
    """Global bundle adjustment of ``model`` with the cameras' lens distortion free as well (focal length, poses and
    points are refined too)."""
    if not any(camera.extra_params_idxs() for camera in model.cameras.values()):
        return  # PINHOLE: nothing more to estimate
    options = pycolmap.BundleAdjustmentOptions()
    options.refine_extra_params = True
    with stage_bar("lens", None, "call"):
        run_interruptible(lambda token: pycolmap.bundle_adjustment(model, options, cancellation_token=token))


def _images_with_features(database: Path) -> tuple[set[str], int | None]:
    """(names of images with keypoints, the camera id of the first of them or None)."""
    if not database.is_file():
        return set(), None
    with pycolmap.Database.open(database) as db:
        images = [image for image in db.read_all_images() if db.exists_keypoints(image.image_id)]
    return {image.name for image in images}, (images[0].camera_id if images else None)


def options_record(options) -> dict:
    """A JSON-able record of stage options, compared on a rerun to decide whether a stage is still valid."""
    return asdict(options)
