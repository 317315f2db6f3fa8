"""apps/process_data.py end to end on renders of the textured procedural scene from known cameras: the cameras come
back (after a similarity alignment) within 1 degree and 1 % of the scene size, the folder loads, reruns reuse
finished stages, Ctrl+C keeps them, and unusable inputs are listed."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from capture_views import SCENE_SIZE, blurred, capture_poses, render, ring_poses, write_photos, write_video
from fields.capture import CaptureError, CaptureOptions, process_capture
from fields.capture.alignment import pose_errors
from fields.datasets import load_scene

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """24 renders, plus a truncated PNG, a file that is no image, and one of another size (all to be rejected)."""
    folder = tmp_path_factory.mktemp("photos")
    truth = write_photos(folder, capture_poses())
    whole = (folder / "view_000.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "garbage.jpg").write_bytes(b"not a jpeg at all")
    render(capture_poses()[0], size=120).save(folder / "small.png")
    return folder, truth


@pytest.fixture(scope="module")
def processed(photos, tmp_path_factory):
    folder, truth = photos
    output = tmp_path_factory.mktemp("scenes") / "scene"
    report = process_capture(CaptureOptions(output=output, images=folder))
    return output, report, truth


def _recovered(scene: Path) -> tuple[list[str], np.ndarray]:
    frames = json.loads((scene / "transforms.json").read_text())["frames"]
    return [Path(f["file_path"]).name for f in frames], np.stack([np.array(f["transform_matrix"]) for f in frames])


def test_cameras_are_recovered_within_one_degree_and_one_percent(processed):
    scene, report, truth = processed
    assert report["imported"] == 24 and report["registered"] == 24
    names, recovered = _recovered(scene)
    errors = pose_errors(recovered, np.stack([truth[n] for n in names]), SCENE_SIZE)
    assert errors.rotation_deg.max() < 1.0, errors.summary()
    assert errors.position.max() < 0.01, errors.summary()


def test_unusable_images_are_skipped_and_listed(processed):
    _, report, _ = processed
    reasons = {entry["name"]: entry["reason"] for entry in report["rejected"]}
    assert set(reasons) == {"truncated.png", "garbage.jpg", "small.png"}
    assert "cannot decode" in reasons["truncated.png"] and "cannot decode" in reasons["garbage.jpg"]
    assert "120x120 differs from the 200x200" in reasons["small.png"]
    assert report["images_in"] == 27


def test_scene_folder_contents_and_world_frame(processed):
    scene, report, _ = processed
    content = json.loads((scene / "transforms.json").read_text())
    assert content["camera_model"] == "OPENCV" and (content["w"], content["h"]) == (200, 200)
    assert all(f["sharpness"] > 0 for f in content["frames"])
    assert (scene / "colmap" / "sparse" / "0" / "images.bin").is_file()
    assert (scene / "colmap" / "database.db").is_file()
    with Image.open(scene / "images_2" / "view_000.png") as half, Image.open(scene / "images_4" / "view_000.png") as q:
        assert half.size == (100, 100) and q.size == (50, 50)
    header = (scene / "sparse_pc.ply").read_bytes()[:300].decode("ascii", "replace")
    assert f"element vertex {report['num_points']}" in header and report["num_points"] > 500
    assert report["mean_reprojection_error_px"] < 1.0
    # the world rule: cameras at radius 4 around the origin, up +Z (the true scene is built that way)
    _, poses = _recovered(scene)
    assert np.median(np.linalg.norm(poses[:, :3, 3], axis=1)) == pytest.approx(4.0, rel=1e-6)
    mean_up = poses[:, :3, 1].mean(axis=0)
    np.testing.assert_allclose(mean_up / np.linalg.norm(mean_up), [0.0, 0.0, 1.0], atol=1e-9)
    # applied_transform maps COLMAP's camera centres to ours
    import pycolmap
    reconstruction = pycolmap.Reconstruction(scene / "colmap" / "sparse" / "0")
    applied = np.array(content["applied_transform"])
    for frame in content["frames"][:3]:
        centre = reconstruction.images[frame["colmap_im_id"]].projection_center()
        np.testing.assert_allclose(applied[:, :3] @ centre + applied[:, 3], np.array(frame["transform_matrix"])[:3, 3],
                                   atol=1e-6)


def test_scene_loads_with_every_8th_frame_held_out(processed):
    scene, _, _ = processed
    train, val = load_scene(scene, "train"), load_scene(scene, "val")
    assert (train.num_images, val.num_images) == (21, 3)
    assert [p.name for p in val.image_paths] == ["view_000.png", "view_008.png", "view_016.png"]
    box = val.aabb.numpy()
    assert (box[:3] <= 0.5).all() and (box[3:] >= 0.5).all()


def test_rerun_reuses_every_finished_stage(processed, photos):
    scene, first, _ = processed
    before = (scene / "transforms.json").read_text()
    start = time.perf_counter()
    report = process_capture(CaptureOptions(output=scene, images=photos[0]))
    assert report["reused_stages"] == ["import", "features", "matching", "mapping"]
    assert report["seconds"]["mapping"] == first["seconds"]["mapping"]  # the time of the run that did it
    assert time.perf_counter() - start < 0.5 * sum(first["seconds"].values()) + 1.0
    assert (scene / "transforms.json").read_text() == before


def test_holdout_pattern_sets_the_val_split(processed, photos, tmp_path):
    scene, _, _ = processed
    report = process_capture(CaptureOptions(output=scene, images=photos[0], holdout="view_01*"))
    assert "mapping" in report["reused_stages"]
    val = load_scene(scene, "val")
    assert [p.name for p in val.image_paths] == [f"view_{i:03d}.png" for i in range(10, 20)]
    assert load_scene(scene, "train").num_images == 14
    with pytest.raises(CaptureError, match="matches 0 of the 24"):
        process_capture(CaptureOptions(output=scene, images=photos[0], holdout="nothing*"))


def test_video_keeps_the_sharpest_frame_of_each_stretch(tmp_path):
    """Each view appears twice in a row, once blurred; with one frame kept per pair, the sharp ones are chosen and
    the cameras come back."""
    poses = capture_poses()
    frames, sharp_indices = [], []
    for index, pose in enumerate(poses):
        image = render(pose)
        pair = [blurred(image), image] if index % 2 else [image, blurred(image)]
        sharp_indices.append(2 * index + (1 if index % 2 else 0))
        frames += pair
    video = tmp_path / "orbit.mp4"
    write_video(video, frames)
    scene = tmp_path / "scene"
    report = process_capture(CaptureOptions(output=scene, video=video, num_frames=len(poses)))
    state = json.loads((scene / "process_state.json").read_text())
    kept = state["stages"]["import"]["result"]["images"]
    assert [k["frame_index"] for k in kept] == sharp_indices
    assert report["images_in"] == 48 and report["registered"] == 24
    names, recovered = _recovered(scene)
    true = np.stack([poses[int(n.removeprefix("frame_").removesuffix(".jpg")) - 1] for n in names])
    errors = pose_errors(recovered, true, SCENE_SIZE)
    # H.264 frames: the 1 degree / 1 % target on the mean, a looser bound on the worst frame than for the photographs
    # (multithreaded SfM differs from run to run; the worst frame has measured up to 0.024 of the scene size)
    assert errors.rotation_deg.mean() < 0.5 and errors.rotation_deg.max() < 2.0, errors.summary()
    assert errors.position.mean() < 0.01 and errors.position.max() < 0.04, errors.summary()
    assert json.loads((scene / "process_state.json").read_text())["stages"]["matching"]["options"]["method"] == \
        "sequential"


def test_too_few_registered_images_name_the_missing_ones(tmp_path):
    folder = tmp_path / "photos"
    write_photos(folder, ring_poses(5, 30.0, 12.0))
    rng = np.random.default_rng(0)
    for index in range(7):  # unrelated pictures: nothing matches them
        Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(folder / f"noise_{index}.png")
    with pytest.raises(CaptureError, match=r"registered only \d of 12 images \(unregistered: .*noise_0.png.*"
                                           r"--matching exhaustive"):
        process_capture(CaptureOptions(output=tmp_path / "scene", images=folder))
    assert not (tmp_path / "scene" / "transforms.json").exists()
    report = json.loads((tmp_path / "scene" / "process_report.json").read_text())
    assert {"noise_0.png", "noise_6.png"} <= {r["name"] for r in report["rejected"]}


def test_ctrl_c_keeps_finished_stages_and_the_rerun_continues(photos, tmp_path):
    scene = tmp_path / "scene"
    command = [sys.executable, str(ROOT / "apps" / "process_data.py"), "--images", str(photos[0]),
               "--output", str(scene)]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    database = scene / "colmap" / "database.db"
    deadline = time.monotonic() + 120
    while not database.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted (SIGINT): during features") and "run the same command again" in last
    assert not (scene / "transforms.json").exists()
    state = json.loads((scene / "process_state.json").read_text())
    assert state["stages"]["import"]["result"] is not None and state["stages"]["features"]["result"] is None

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "reused: import)" in rerun.stdout  # features continued from the database, then the rest
    assert load_scene(scene, "all").num_images == 24
