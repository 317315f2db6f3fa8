"""From photographs or a video to a scene folder: import, features, matching, mapping, world frame, writing.

Stages run in order; each records itself in ``process_state.json`` when it finishes, so a rerun on the same folder
(after Ctrl+C, a crash, or with changed options) reuses what is still valid. The scene is complete once
``transforms.json`` exists: it is written last, through a temporary file, and removed before any stage is redone.
"""
from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

import numpy as np
import pycolmap

from fields.capture import images as image_import
from fields.capture import sfm, video
from fields.capture.errors import CaptureError
from fields.capture.options import CaptureOptions
from fields.capture.progress import stage_bar
from fields.capture.report import Report
from fields.capture.scene_writer import camera_entry, opengl_camera_to_world, write_downscaled, write_point_cloud
from fields.capture.state import SceneState
from fields.capture.world import CAMERA_RADIUS, choose_world_frame
from fields.run.folder import write_json

MIN_IMAGES = 3
MIN_REGISTERED_FRACTION = 0.5


def process_capture(options: CaptureOptions) -> dict:
    """Run every stage for ``options``; returns the report (also written to ``process_report.json``)."""
    _check(options)
    pycolmap.logging.minloglevel = 0 if options.verbose else 2
    scene = options.output.expanduser().absolute()
    source_path = (options.images or options.video).expanduser().absolute()
    source = {"kind": "images" if options.images else "video", "path": str(source_path)}
    state = SceneState(scene, source)
    report = Report(source)

    names, sharpness = _import_stage(options, source_path, scene, state, report)
    if len(names) < MIN_IMAGES:
        report.write(scene)
        rejected = "; ".join(f"{r['name']}: {r['reason']}" for r in report.rejected[:5])
        raise CaptureError(f"only {len(names)} usable image(s) (at least {MIN_IMAGES} are needed for structure from "
                           f"motion)" + (f"; rejected: {rejected}" if rejected else "") +
                           ". Add more overlapping photographs")

    # checked before any SfM work, so that a missing vocabulary tree is not found out only after feature extraction
    match_options = sfm.resolve_matching(options.matching, len(names), options.video is not None, options.vocab_tree)
    colmap_dir = scene / "colmap"
    colmap_dir.mkdir(exist_ok=True)
    database = colmap_dir / "database.db"
    feature_options = sfm.FeatureOptions(options.camera_model, not options.per_image_camera, options.max_image_size)
    _run_stage("features", sfm.options_record(feature_options), state, report, scene,
               lambda: sfm.extract_features(database, scene / "images", names, feature_options),
               on_redo=lambda: database.unlink(missing_ok=True))  # features of other options: start afresh

    _run_stage("matching", sfm.options_record(match_options), state, report, scene,
               lambda: {"pairs": sfm.match_features(database, names, match_options, colmap_dir)},
               on_redo=lambda: _clear_matches(database))

    sparse_dir = colmap_dir / "sparse" / "0"
    _run_stage("mapping", {"mapper": options.mapper}, state, report, scene,
               lambda: _map(database, scene / "images", colmap_dir, sparse_dir, options.mapper, len(names)))
    reconstruction = pycolmap.Reconstruction(sparse_dir)

    with report.stage("write"):
        _check_registration(reconstruction, names, report, scene)
        _write_scene(scene, reconstruction, sharpness, options, report)
    report.write(scene)
    return report.as_dict()


def _check(options: CaptureOptions) -> None:
    if (options.images is None) == (options.video is None):
        raise CaptureError("give exactly one input: --images DIR or --video FILE")
    if options.num_frames < MIN_IMAGES:
        raise CaptureError(f"--num-frames must be at least {MIN_IMAGES}, got {options.num_frames}")
    if options.max_image_size < 64:
        raise CaptureError(f"--max-image-size must be at least 64 pixels, got {options.max_image_size}")


def _import_stage(options, source_path: Path, scene: Path, state: SceneState, report: Report
                  ) -> tuple[list[str], dict[str, float]]:
    """(image names in images/, name -> sharpness); reuses an earlier import of the same input."""
    if options.images is not None:
        files = image_import.list_images(source_path)
        record = {"files": [[f.name, f.stat().st_size] for f in files]}
    else:
        if not source_path.is_file():
            raise CaptureError(f"--video {source_path} does not exist; pass a video file (e.g. .mp4, .mov)")
        stat = source_path.stat()
        record = {"num_frames": options.num_frames, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not state.is_done("import", record):
        _forget_from("import", scene, state)
        with report.stage("import"):
            result = _import_images(files, scene) if options.images is not None else \
                _import_video(source_path, options.num_frames, scene)
        result["seconds"] = report.seconds["import"]
        state.finish("import", record, result)
    else:
        report.reuse("import", state.record("import")["result"]["seconds"])
    result = state.record("import")["result"]
    report.images_in = result["images_in"]
    report.imported = len(result["images"])
    for rejected in result["rejected"]:
        report.reject(rejected["name"], rejected["reason"])
    return [item["name"] for item in result["images"]], {item["name"]: item["sharpness"] for item in result["images"]}


def _import_images(files: list[Path], scene: Path) -> dict:
    with stage_bar("import", len(files), "img") as bar:
        imported, rejected = image_import.import_images(files, scene / "images", bar)
    return {"images_in": len(files),
            "images": [{"name": i.name, "source": i.source, "sharpness": round(i.sharpness, 3)} for i in imported],
            "rejected": [{"name": r.name, "reason": r.reason} for r in rejected]}


def _import_video(path: Path, num_frames: int, scene: Path) -> dict:
    with stage_bar("frames", None, "frame") as bar:
        scores = video.score_frames(path, bar)
    chosen = video.pick_sharpest([score for _, score in scores], num_frames)
    with stage_bar("frames", len(chosen), "frame") as bar:
        frames = video.write_frames(path, chosen, scores, scene / "images", bar)
    return {"images_in": len(scores),
            "images": [{"name": f.name, "frame_index": f.frame_index, "time": round(f.time, 4),
                        "sharpness": round(f.sharpness, 3)} for f in frames],
            "rejected": []}


def _run_stage(name: str, record: dict, state: SceneState, report: Report, scene: Path, run, on_redo=None) -> None:
    """Run stage ``name`` unless an earlier run finished it with the same options; ``on_redo`` clears what an
    earlier run with other options left (an interrupted run with the same options is continued instead)."""
    if state.is_done(name, record):
        report.reuse(name, state.record(name)["result"]["seconds"])
        return
    previous = state.record(name)
    _forget_from(name, scene, state)
    if previous is not None and previous["options"] != record and on_redo is not None:
        on_redo()
    state.start(name, record)
    with report.stage(name):
        result = run() or {}
    result["seconds"] = report.seconds[name]
    state.finish(name, record, result)


def _forget_from(stage: str, scene: Path, state: SceneState) -> None:
    """Before a stage is (re)done: the scene is incomplete until the end, and stale outputs must go."""
    (scene / "transforms.json").unlink(missing_ok=True)
    if stage == "import":
        for folder in ("images", "images_2", "images_4", "colmap"):
            shutil.rmtree(scene / folder, ignore_errors=True)
    state.invalidate(stage)


def _clear_matches(database: Path) -> None:
    with pycolmap.Database.open(database) as db:
        db.clear_matches()
        db.clear_two_view_geometries()


def _map(database: Path, images_dir: Path, colmap_dir: Path, sparse_dir: Path, mapper: str, n_images: int) -> dict:
    """Map, then keep the largest model as colmap/sparse/0 (written beside it and renamed into place)."""
    work = colmap_dir / "mapping"
    shutil.rmtree(work, ignore_errors=True)
    models = sfm.map_images(database, images_dir, work, mapper, n_images)
    if not models:
        raise CaptureError(
            "structure from motion found no model: no image pair had enough verified matches. Use --matching "
            "exhaustive, photographs with more overlap (each part of the scene in several images) and texture, "
            "and fewer blurry frames")
    staged = colmap_dir / "sparse" / ".0.partial"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    models[0].write(staged)
    shutil.rmtree(sparse_dir, ignore_errors=True)
    staged.rename(sparse_dir)
    shutil.rmtree(work, ignore_errors=True)
    return {"models": [model.num_reg_images() for model in models]}


def _check_registration(reconstruction: pycolmap.Reconstruction, names: list[str], report: Report,
                        scene: Path) -> None:
    registered = {image.name for image in reconstruction.images.values() if image.has_pose}
    report.registered = len(registered)
    missing = [name for name in names if name not in registered]
    for name in missing:
        report.reject(name, "not registered by structure from motion")
    report.sfm = {"mean_reprojection_error_px": round(float(reconstruction.compute_mean_reprojection_error()), 4),
                  "num_points": int(reconstruction.num_points3D())}
    if len(registered) < MIN_REGISTERED_FRACTION * len(names):
        report.write(scene)
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise CaptureError(
            f"structure from motion registered only {len(registered)} of {len(names)} images (unregistered: "
            f"{listed}). Try --matching exhaustive, capture with more overlap between neighbouring views, or "
            "drop blurry images; details in process_report.json")


def _write_scene(scene: Path, reconstruction: pycolmap.Reconstruction, sharpness: dict[str, float],
                 options: CaptureOptions, report: Report) -> None:
    images = sorted((image for image in reconstruction.images.values() if image.has_pose),
                    key=lambda image: image_import.natural_key(image.name))
    c2w = np.stack([opengl_camera_to_world(image) for image in images])
    points = np.array([p.xyz for p in reconstruction.points3D.values()]).reshape(-1, 3)
    colours = np.array([p.color for p in reconstruction.points3D.values()], dtype=np.uint8).reshape(-1, 3)
    world = choose_world_frame(c2w, points)
    poses = world.apply_to_poses(c2w)

    cameras = {image.camera_id for image in images}
    frames = []
    for image, pose in zip(images, poses):
        frame = {"file_path": f"images/{image.name}", "transform_matrix": pose.tolist(),
                 "sharpness": sharpness.get(image.name), "colmap_im_id": int(image.image_id)}
        if len(cameras) > 1:
            frame.update(camera_entry(reconstruction.cameras[image.camera_id]))
        frames.append(frame)
    content = camera_entry(reconstruction.cameras[images[0].camera_id]) if len(cameras) == 1 else {}
    content.update({"aabb": world.aabb.tolist(), "applied_transform": world.transform[:3].tolist(),
                    "ply_file_path": "sparse_pc.ply", "frames": frames})
    if options.holdout:
        content.update(_holdout_lists(frames, options.holdout))

    write_point_cloud(scene / "sparse_pc.ply", world.apply_to_points(points), colours)
    write_downscaled(scene, [image.name for image in images])
    write_json(scene / "transforms.json", content)
    report.sfm["world_frame"] = {"centre": world.centre_rule, "camera_radius": CAMERA_RADIUS,
                                 "aabb": np.round(world.aabb, 4).tolist()}


def _holdout_lists(frames: list[dict], pattern: str) -> dict:
    """nerfstudio's split keys: images whose file name matches ``pattern`` are val and test, the others train."""
    held = [f["file_path"] for f in frames if fnmatch.fnmatch(Path(f["file_path"]).name, pattern)]
    train = [f["file_path"] for f in frames if f["file_path"] not in set(held)]
    if not held or not train:
        raise CaptureError(f"--holdout {pattern!r} matches {len(held)} of the {len(frames)} registered images; it "
                           "must leave some for training and hold some out")
    return {"train_filenames": train, "val_filenames": held, "test_filenames": held}
