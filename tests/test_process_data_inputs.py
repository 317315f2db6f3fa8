"""Capture processing without structure from motion: bad inputs and flags, frame choice, the world frame rule,
similarity alignment. All fast."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fields.capture import CaptureError, CaptureOptions, process_capture
from fields.capture.alignment import pose_errors, umeyama
from fields.capture.images import import_images, list_images
from fields.capture.sfm import image_pairs, resolve_matching
from fields.capture.video import pick_sharpest
from fields.capture.world import CAMERA_RADIUS, choose_world_frame, scene_box
from fields.datasets.procedural import look_at

ROOT = Path(__file__).resolve().parents[1]


def _photos(folder: Path, count: int, size=(40, 30)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    return folder


def test_a_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(CaptureError, match="no images in .*empty"):
        process_capture(CaptureOptions(output=tmp_path / "out", images=tmp_path / "empty"))
    with pytest.raises(CaptureError, match="is not a folder"):
        process_capture(CaptureOptions(output=tmp_path / "out", images=tmp_path / "missing"))


def test_too_few_images(tmp_path):
    folder = _photos(tmp_path / "two", 2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(CaptureError, match=r"only 2 usable image\(s\) \(at least 3.*broken.jpg: cannot decode"):
        process_capture(CaptureOptions(output=tmp_path / "out", images=folder))


def test_mixed_sizes_keep_the_most_common_and_exif_orientation_is_applied(tmp_path):
    folder = _photos(tmp_path / "in", 3, size=(40, 30))
    _photos(tmp_path / "odd", 1, size=(50, 30))
    (tmp_path / "odd" / "p0.png").rename(folder / "wide.png")
    # a portrait JPEG stored sideways: 30x40 pixels with orientation 6 (rotate 90 degrees clockwise to view)
    sideways = Image.fromarray(np.full((40, 30, 3), 128, dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(folder / "rotated.jpg", exif=exif)
    imported, rejected = import_images(list_images(folder), tmp_path / "images")
    assert sorted(i.name for i in imported) == ["p0.png", "p1.png", "p2.png", "rotated.jpg"]
    assert [(r.name, r.reason) for r in rejected] == [("wide.png", "size 50x30 differs from the 40x30 of most images")]
    assert not (tmp_path / "images" / "wide.png").exists()
    with Image.open(tmp_path / "images" / "rotated.jpg") as upright:
        assert upright.size == (40, 30) and upright.getexif().get(0x0112, 1) == 1
    assert (tmp_path / "images" / "p0.png").read_bytes() == (folder / "p0.png").read_bytes()  # copied unchanged


def test_a_video_that_cannot_be_decoded(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(CaptureError, match="cannot (open|decode) video .*clip.mp4.*--images"):
        process_capture(CaptureOptions(output=tmp_path / "out", video=video))
    with pytest.raises(CaptureError, match="does not exist"):
        process_capture(CaptureOptions(output=tmp_path / "out2", video=tmp_path / "missing.mp4"))


def test_input_flags_are_checked(tmp_path):
    folder = _photos(tmp_path / "in", 3)
    with pytest.raises(CaptureError, match="exactly one input"):
        process_capture(CaptureOptions(output=tmp_path / "out"))
    with pytest.raises(CaptureError, match="exactly one input"):
        process_capture(CaptureOptions(output=tmp_path / "out", images=folder, video=tmp_path / "v.mp4"))
    with pytest.raises(CaptureError, match="--num-frames must be at least 3"):
        process_capture(CaptureOptions(output=tmp_path / "out", video=tmp_path / "v.mp4", num_frames=2))


def test_vocab_tree_needs_a_file_on_disk_and_auto_matching(tmp_path):
    with pytest.raises(CaptureError, match="vocabulary tree file on disk.*nothing is downloaded"):
        resolve_matching("vocab-tree", 10, False, None)
    with pytest.raises(CaptureError, match="missing.bin does not exist"):
        resolve_matching("vocab-tree", 10, False, tmp_path / "missing.bin")
    assert resolve_matching("auto", 40, True, None).method == "sequential"
    assert resolve_matching("auto", 300, False, None).method == "exhaustive"
    with pytest.raises(CaptureError, match="too many for exhaustive"):
        resolve_matching("auto", 301, False, None)
    tree = tmp_path / "tree.bin"
    tree.write_bytes(b"x")
    assert resolve_matching("auto", 301, False, tree).method == "vocab-tree"


def test_sequential_pairs_cover_neighbours_and_loop_closure():
    names = [f"f{i}" for i in range(40)]
    pairs = set(image_pairs(names, "sequential"))
    assert ("f0", "f10") in pairs and ("f0", "f11") not in pairs and ("f0", "f32") in pairs
    assert len(image_pairs(names, "exhaustive")) == 40 * 39 // 2


def test_an_output_folder_that_holds_another_capture(tmp_path):
    folder = _photos(tmp_path / "in", 3)
    other = tmp_path / "other"
    other.mkdir()
    (other / "process_state.json").write_text(json.dumps({"source": {"kind": "images", "path": "/elsewhere"},
                                                          "stages": {}}))
    with pytest.raises(CaptureError, match="holds another capture \\(made from /elsewhere\\)"):
        process_capture(CaptureOptions(output=other, images=folder))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "transforms.json").write_text("{}")
    with pytest.raises(CaptureError, match="another capture \\(a transforms.json\\) not written by process_data"):
        process_capture(CaptureOptions(output=foreign, images=folder))
    assert (foreign / "transforms.json").read_text() == "{}"


def test_app_prints_one_error_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, str(ROOT / "apps" / "process_data.py"), "--images",
                             str(tmp_path / "empty"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: no images in")


def test_pick_sharpest_takes_one_frame_per_stretch():
    scores = [1, 5, 2, 2, 9, 1, 3, 3, 0, 7]
    assert pick_sharpest(scores, 5) == [1, 2, 4, 6, 9]
    assert pick_sharpest(scores, 20) == list(range(10))


def _orbit_in_a_tilted_frame(rng, count=12):
    """Cameras orbiting the origin (radius 4, looking at it, up +Z), then moved into an arbitrary similarity frame
    (as COLMAP's would be). Returns (poses in that frame, the similarity)."""
    poses = np.stack([look_at(4.0 * np.array([math.cos(a), math.sin(a), 0.5]) / np.linalg.norm([1, 0.5]))
                      for a in np.linspace(0, 2 * math.pi, count, endpoint=False)])
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation *= np.sign(np.linalg.det(rotation))
    scale, shift = 0.37, rng.normal(size=3) * 5
    moved = poses.copy()
    moved[:, :3, :3] = rotation @ poses[:, :3, :3]
    moved[:, :3, 3] = scale * poses[:, :3, 3] @ rotation.T + shift
    return poses, moved, (scale, rotation, shift)


def test_world_frame_puts_up_on_z_the_looked_at_point_at_the_origin_and_cameras_at_the_radius():
    rng = np.random.default_rng(3)
    true, moved, (scale, rotation, shift) = _orbit_in_a_tilted_frame(rng)
    points_true = rng.uniform(-1, 1, (500, 3))
    points = scale * points_true @ rotation.T + shift
    world = choose_world_frame(moved, points)
    assert world.centre_rule == "optical axes"
    poses = world.apply_to_poses(moved)
    np.testing.assert_allclose(np.linalg.norm(poses[:, :3, 3], axis=1), CAMERA_RADIUS, rtol=1e-6)
    np.testing.assert_allclose(poses[:, :3, 3].mean(axis=0)[:2], 0.0, atol=1e-6)  # centred on the orbit's axis
    mean_up = poses[:, :3, 1].mean(axis=0)
    np.testing.assert_allclose(mean_up / np.linalg.norm(mean_up), [0.0, 0.0, 1.0], atol=1e-9)  # mean up is +Z
    np.testing.assert_allclose(np.linalg.det(poses[:, :3, :3]), 1.0, atol=1e-9)
    box = world.aabb
    assert (box[0] < -0.9).all() and (box[1] > 0.9).all()  # around the points' cube [-1, 1]^3 (same scale here)
    # a forward-facing capture (parallel axes) falls back to the median of the points
    parallel = np.stack([look_at(np.array([x, -4.0, 0.0]), target=(x, 0.0, 0.0)) for x in np.linspace(-1, 1, 5)])
    assert choose_world_frame(parallel, points_true).centre_rule == "point median"


def test_umeyama_and_pose_errors_recover_a_known_similarity():
    rng = np.random.default_rng(5)
    true, moved, _ = _orbit_in_a_tilted_frame(rng)
    errors = pose_errors(moved, true, scene_size=2.0)
    assert errors.rotation_deg.max() < 1e-6 and errors.position.max() < 1e-9
    assert errors.scale == pytest.approx(1 / 0.37)
    tilted = moved.copy()
    tilted[0, :3, :3] = tilted[0, :3, :3] @ np.array([[1, 0, 0], [0, math.cos(0.1), -math.sin(0.1)],
                                                      [0, math.sin(0.1), math.cos(0.1)]])
    assert pose_errors(tilted, true, 2.0).rotation_deg[0] == pytest.approx(math.degrees(0.1), rel=1e-6)
    s, r, t = umeyama(true[:, :3, 3], true[:, :3, 3])
    assert s == pytest.approx(1.0) and np.allclose(r, np.eye(3)) and np.allclose(t, 0.0, atol=1e-12)


def test_the_scene_box_keeps_a_thin_part_that_sticks_out_but_not_stray_points():
    rng = np.random.default_rng(4)
    body = rng.uniform(-1, 1, (9700, 3))
    arm = np.c_[rng.uniform(1.0, 1.6, 300), rng.uniform(-0.05, 0.05, (300, 2))]  # 3 % of the points, out to 1.6
    strays = rng.uniform(20, 40, (50, 3))  # mismatches far away
    box = scene_box(np.concatenate([body, arm, strays]))
    assert box[1, 0] >= 1.6 and (box[1] < 3).all() and (box[0] > -1.5).all()
