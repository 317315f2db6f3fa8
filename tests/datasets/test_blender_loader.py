import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from fields.datasets import composite_background, image_rays, load_scene, render_view
from fields.datasets._files import downscale_rgba


def _rgba(height, width, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    image[..., 3] = np.where(rng.random((height, width)) < 0.3, 0, image[..., 3])  # some fully transparent pixels
    return image


def test_lego_val_downscaled(lego_dir):
    scene = load_scene(lego_dir, "val", downscale=4)
    angle = json.loads((lego_dir / "transforms_val.json").read_text())["camera_angle_x"]
    full_width = Image.open(scene.image_paths[0]).size[0]
    assert scene.images.shape == (100, full_width // 4, full_width // 4, 4) and scene.images.dtype == torch.uint8
    focal = 0.5 * full_width / math.tan(0.5 * angle) / 4
    expected = torch.tensor([focal, focal, full_width / 8, full_width / 8]).expand(100, 4)
    torch.testing.assert_close(scene.intrinsics, expected)
    assert scene.source_format == "blender" and scene.has_alpha and scene.distortion is None
    assert scene.aabb.tolist() == [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]
    alpha = scene.images[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any() and ((alpha > 0) & (alpha < 255)).any()
    # camera-to-world: rigid, cameras on a sphere of radius ~4 looking at the origin
    rotation = scene.c2w[:, :3, :3]
    torch.testing.assert_close(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(100, 3, 3), atol=1e-5, rtol=0)
    assert torch.all(scene.c2w[:, 3] == torch.tensor([0.0, 0.0, 0.0, 1.0]))
    positions = scene.c2w[:, :3, 3]
    assert torch.allclose(positions.norm(dim=-1), torch.full((100,), 4.03), atol=0.05)
    origins, directions = image_rays(scene, 7)
    centre = directions[scene.height // 2, scene.width // 2]
    assert torch.dot(centre, -origins[0, 0] / origins[0, 0].norm()) > 0.999


def test_lego_downscale_is_area_average_of_full_resolution(lego_dir, tmp_path):
    # a two-frame scene whose file_paths point at lego's images (absolute paths, with extension)
    content = json.loads((lego_dir / "transforms_val.json").read_text())
    content["frames"] = content["frames"][:2]
    for frame in content["frames"]:
        frame["file_path"] = str((lego_dir / frame["file_path"]).resolve()) + ".png"
    (tmp_path / "transforms_val.json").write_text(json.dumps(content))
    full = load_scene(tmp_path, "val")
    half = load_scene(tmp_path, "val", downscale=2)
    torch.testing.assert_close(half.intrinsics, full.intrinsics / 2)
    assert torch.equal(half.c2w, full.c2w)
    # composite-then-average equals average-then-composite (premultiplied averaging), up to uint8 rounding
    white_full = composite_background(full.rgba(1), 1.0)
    white_full_averaged = white_full.reshape(half.height, 2, half.width, 2, 3).mean(dim=(1, 3))
    white_half = composite_background(half.rgba(1), 1.0)
    assert (white_half - white_full_averaged).abs().max() < 2.5 / 255


def test_downscale_crops_and_averages_premultiplied():
    image = _rgba(41, 27)
    small = downscale_rgba(image, 3)
    assert small.shape == (13, 9, 4)
    block = image[:3, :3].astype(np.float64) / 255
    alpha = block[..., 3].mean()
    expected_rgb = (block[..., :3] * block[..., 3:]).sum(axis=(0, 1)) / block[..., 3].sum() if alpha > 0 else (
        block[..., :3].mean(axis=(0, 1)))
    assert np.allclose(small[0, 0, :3] / 255, expected_rgb, atol=0.6 / 255)
    assert abs(small[0, 0, 3] / 255 - alpha) <= 0.6 / 255
    transparent = np.zeros((4, 4, 4), np.uint8)
    transparent[..., :3] = 200
    assert (downscale_rgba(transparent, 2)[..., :3] == 200).all()  # hidden colour kept where nothing is visible


def test_any_resolution_and_downscale_with_crop(tmp_path, write_blender_scene):
    scene_dir = write_blender_scene(tmp_path, [_rgba(25, 41, seed) for seed in range(3)], camera_angle_x=0.8)
    scene = load_scene(scene_dir)
    assert (scene.width, scene.height) == (41, 25)
    focal = 0.5 * 41 / math.tan(0.4)
    torch.testing.assert_close(scene.intrinsics[0], torch.tensor([focal, focal, 20.5, 12.5]))
    small = load_scene(scene_dir, downscale=2)
    assert (small.width, small.height) == (20, 12)
    torch.testing.assert_close(small.intrinsics, scene.intrinsics / 2)
    assert np.array_equal(small.images[1].numpy(), downscale_rgba(scene.images[1].numpy(), 2))


def test_file_path_with_extension_and_rgba_kept(tmp_path, write_blender_scene):
    images = [_rgba(8, 8, seed) for seed in range(2)]
    scene = load_scene(write_blender_scene(tmp_path, images, split="test", with_extension=True), "test")
    assert scene.split == "test" and scene.num_images == 2
    assert np.array_equal(scene.images[1].numpy(), images[1])  # straight alpha, untouched


def test_rgb_images_get_alpha_one_with_a_warning(tmp_path, write_blender_scene):
    images = [np.full((8, 8, 3), 90, np.uint8), np.full((8, 8, 3), 30, np.uint8)]
    with pytest.warns(UserWarning, match="no image has an alpha channel"):
        scene = load_scene(write_blender_scene(tmp_path / "rgb", images))
    assert not scene.has_alpha and bool((scene.images[..., 3] == 255).all())
    assert int(scene.images[0, 0, 0, 0]) == 90
    mixed = [_rgba(8, 8), np.full((8, 8, 3), 30, np.uint8)]
    with pytest.warns(UserWarning, match="1 of 2 images have no alpha channel"):
        scene = load_scene(write_blender_scene(tmp_path / "mixed", mixed))
    assert scene.has_alpha and bool((scene.images[1, ..., 3] == 255).all())


def test_procedural_scene_round_trip(procedural_dir):
    """Images on disk equal a fresh render from the loaded cameras: poses and intrinsics survive the round trip."""
    for split, count in (("train", 12), ("val", 3), ("test", 2)):
        scene = load_scene(procedural_dir, split)
        assert scene.num_images == count and (scene.width, scene.height) == (48, 48)
        for index in range(0, count, 5):
            rendered = render_view(scene.c2w[index], scene.intrinsics[index], 48, 48)
            assert (scene.rgba(index) - rendered).abs().max() <= 0.51 / 255 + 1e-6
