"""Bad input gives an error that names the file at fault and says what to do."""
import json

import numpy as np
import pytest

from fields.datasets import SceneFileMissingError, SceneFormatError, load_scene


def _images(count, size=(8, 8)):
    return [np.full((*size, 4), 40 * i, np.uint8) for i in range(count)]


def test_missing_image_names_the_file(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(3))
    (scene_dir / "train" / "r_1.png").unlink()
    with pytest.raises(SceneFileMissingError, match=r"Image file not found: .*train/r_1") as caught:
        load_scene(scene_dir)
    assert "transforms_train.json" in str(caught.value) and "remove its frame" in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_corrupt_image_names_the_file(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(3))
    (scene_dir / "train" / "r_2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(SceneFormatError, match=r"Cannot decode image .*train/r_2\.png"):
        load_scene(scene_dir)


def test_truncated_image_names_the_file(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, [np.random.default_rng(0).integers(0, 255, (64, 64, 4), np.uint8)])
    path = scene_dir / "train" / "r_0.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SceneFormatError, match=r"r_0\.png"):
        load_scene(scene_dir)


def test_malformed_json_gives_file_and_line(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(2))
    path = scene_dir / "transforms_train.json"
    lines = path.read_text().splitlines()
    assert lines[1].endswith(",")
    lines[1] = lines[1].rstrip(",")  # drop the comma ending line 2: the parser stops on line 3
    path.write_text("\n".join(lines))
    with pytest.raises(SceneFormatError, match=r"transforms_train\.json: invalid JSON at line 3, column"):
        load_scene(scene_dir)


def test_images_of_different_sizes_are_named(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(2) + [np.zeros((10, 8, 4), np.uint8)])
    with pytest.raises(SceneFormatError) as caught:
        load_scene(scene_dir)
    message = str(caught.value)
    assert "r_0.png is 8x8" in message and "r_2.png (8x10)" in message and "r_1.png" not in message


def test_missing_split_lists_the_splits_present(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(1), split="train")
    write_blender_scene(scene_dir, _images(1), split="test")
    with pytest.raises(SceneFileMissingError, match=r"No split 'val' .*Splits present: test, train"):
        load_scene(scene_dir, "val")


def test_missing_scene_directory(tmp_path):
    with pytest.raises(SceneFileMissingError, match="Scene directory not found"):
        load_scene(tmp_path / "nope")


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda c: c.pop("camera_angle_x"), "'camera_angle_x' must be a finite number"),
        (lambda c: c.update(camera_angle_x="wide"), "'camera_angle_x' must be a finite number"),
        (lambda c: c.update(frames=[]), "non-empty 'frames'"),
        (lambda c: c["frames"][0].pop("file_path"), "frame 0 needs a 'file_path'"),
        (lambda c: c["frames"][1].update(transform_matrix=[[1, 0], [0, 1]]), "frame 1 .* 'transform_matrix'"),
    ],
)
def test_malformed_transforms_content(tmp_path, write_blender_scene, edit, pattern):
    scene_dir = write_blender_scene(tmp_path, _images(2))
    path = scene_dir / "transforms_train.json"
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))
    with pytest.raises(SceneFormatError, match=pattern):
        load_scene(scene_dir)


def test_bad_downscale(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, _images(1))
    with pytest.raises(ValueError, match="downscale must be a positive integer"):
        load_scene(scene_dir, downscale=0)
    with pytest.raises(ValueError, match=r"downscale=16 is larger than the image .*r_0\.png \(8x8\)"):
        load_scene(scene_dir, downscale=16)
