import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from fields.datasets import (
    RaySampler,
    SceneFormatError,
    detect_format,
    distort,
    generate_rays,
    load_scene,
    undistort,
)
from fields.datasets.rays import camera_directions

WIDTH, HEIGHT = 32, 24


def _random_pose(rng):
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation *= np.sign(np.linalg.det(rotation))  # a proper rotation
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, rng.normal(size=3) * 2.0
    return pose


def _write_ngp_scene(scene_dir, top_level, frame_extras=None, count=3, extension=".jpg", name="transforms.json"):
    """An instant-ngp scene of ``count`` random images; frame i gets ``frame_extras[i]`` merged into its entry."""
    rng = np.random.default_rng(1)
    (scene_dir / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for index in range(count):
        channels = 4 if extension == ".png" else 3  # PNGs with alpha, JPEGs without
        image = rng.integers(0, 256, (HEIGHT, WIDTH, channels), dtype=np.uint8)
        Image.fromarray(image).save(scene_dir / "images" / f"img_{index + 1}{extension}")
        frame = {"file_path": f"images/img_{index + 1}{extension}", "transform_matrix": _random_pose(rng).tolist()}
        frame.update((frame_extras or {}).get(index, {}))
        frames.append(frame)
    (scene_dir / name).write_text(json.dumps({**top_level, "frames": frames}))
    return scene_dir


def _instant_ngp_camera(pose, scale, offset):
    """instant-ngp's nerf_matrix_to_ngp written out literally: new rows are old rows (1, 2, 0), camera columns 1
    and 2 negated, translation scaled then offset. Its camera looks down +Z with +Y down."""
    matrix = np.zeros((3, 4))
    for new_row, old_row in enumerate((1, 2, 0)):
        matrix[new_row, :3] = pose[old_row, :3] * np.array([1.0, -1.0, -1.0])
        matrix[new_row, 3] = pose[old_row, 3] * scale + offset[new_row]
    return matrix


SHARED = {"fl_x": 30.0, "fl_y": 28.0, "cx": 15.0, "cy": 13.0, "w": WIDTH, "h": HEIGHT, "aabb_scale": 4}


def test_shared_intrinsics_and_instant_ngp_world(tmp_path):
    scene_dir = _write_ngp_scene(tmp_path, SHARED)
    assert detect_format(scene_dir, "all") == "ngp"
    scene = load_scene(scene_dir, "all")
    assert scene.source_format == "ngp" and not scene.has_alpha and scene.distortion is None
    assert scene.images.shape == (3, HEIGHT, WIDTH, 4) and bool((scene.images[..., 3] == 255).all())
    torch.testing.assert_close(scene.intrinsics, torch.tensor([[30.0, 28.0, 15.0, 13.0]]).expand(3, 4))
    # the box: side aabb_scale, centred at (0.5, 0.5, 0.5)
    assert scene.aabb.tolist() == [-1.5, -1.5, -1.5, 2.5, 2.5, 2.5]
    # rays equal instant-ngp's rays (its camera matrix, its camera convention) for every frame and many pixels
    poses = [np.array(f["transform_matrix"]) for f in json.loads((scene_dir / "transforms.json").read_text())["frames"]]
    pixels = torch.tensor([[0.5, 0.5], [31.5, 0.5], [16.0, 12.0], [3.25, 20.75]])
    for index, pose in enumerate(poses):
        ngp = _instant_ngp_camera(pose, 0.33, (0.5, 0.5, 0.5))
        origins, directions = generate_rays(scene.c2w[index : index + 1], scene.intrinsics[index : index + 1], pixels)
        for (u, v), origin, direction in zip(pixels.tolist(), origins, directions):
            expected = ngp[:, :3] @ np.array([(u - 15.0) / 30.0, (v - 13.0) / 28.0, 1.0])
            np.testing.assert_allclose(direction.numpy(), expected / np.linalg.norm(expected), atol=1e-5)
            np.testing.assert_allclose(origin.numpy(), ngp[:, 3], atol=1e-5)
    # source_to_world maps the file's coordinates to the world, and camera centres follow it
    centres = np.stack([p[:, 3] for p in poses])
    mapped = (scene.source_to_world.double().numpy() @ centres.T).T[:, :3]
    np.testing.assert_allclose(mapped, scene.c2w[:, :3, 3].numpy(), atol=1e-5)


def test_scale_and_offset_keys_are_honoured(tmp_path):
    scene_dir = _write_ngp_scene(tmp_path, {**SHARED, "scale": 0.5, "offset": [0.1, 0.2, 0.3], "aabb_scale": 2})
    scene = load_scene(scene_dir, "all")
    pose = np.array(json.loads((scene_dir / "transforms.json").read_text())["frames"][0]["transform_matrix"])
    ngp = _instant_ngp_camera(pose, 0.5, (0.1, 0.2, 0.3))
    np.testing.assert_allclose(scene.c2w[0, :3, 3].numpy(), ngp[:, 3], atol=1e-5)
    # OpenGL camera axes kept: our columns 1, 2 are instant-ngp's negated
    np.testing.assert_allclose(scene.c2w[0, :3, :3].numpy(), ngp[:, :3] * np.array([1, -1, -1]), atol=1e-6)
    assert scene.aabb.tolist() == [-0.5, -0.5, -0.5, 1.5, 1.5, 1.5]  # the box stays centred at 0.5
    scalar = load_scene(_write_ngp_scene(tmp_path / "scalar", {**SHARED, "offset": 0.0}), "all")
    assert torch.allclose(scalar.source_to_world[:3, 3], torch.zeros(3))


def test_per_frame_intrinsics_override_shared_ones(tmp_path):
    extras = {1: {"fl_x": 40.0, "cx": 17.0}, 2: {"camera_angle_x": 1.0}}
    scene = load_scene(_write_ngp_scene(tmp_path, {"fl_x": 30.0, "fl_y": 28.0, "cy": 11.0}, extras), "all")
    focal_2 = 0.5 * WIDTH / math.tan(0.5)
    expected = torch.tensor(
        [[30.0, 28.0, 16.0, 11.0], [40.0, 40.0, 17.0, 11.0], [focal_2, focal_2, 16.0, 11.0]]  # one axis -> both
    )
    torch.testing.assert_close(scene.intrinsics, expected)


def test_field_of_view_keys(tmp_path):
    scene = load_scene(_write_ngp_scene(tmp_path, {"camera_angle_x": 0.9, "camera_angle_y": 0.8}), "all")
    torch.testing.assert_close(
        scene.intrinsics[0, :2], torch.tensor([0.5 * WIDTH / math.tan(0.45), 0.5 * HEIGHT / math.tan(0.4)])
    )
    scene = load_scene(_write_ngp_scene(tmp_path / "fov", {"x_fov": 60.0}), "all")
    torch.testing.assert_close(scene.intrinsics[0, :2], torch.full((2,), 0.5 * WIDTH / math.tan(math.radians(30))))


def test_distortion_shared_and_per_frame(tmp_path):
    lens = {"k1": -0.12, "k2": 0.03, "p1": 0.002, "p2": -0.001}
    extras = {2: {"k1": 0.05, "p2": 0.0}}
    scene = load_scene(_write_ngp_scene(tmp_path, {**SHARED, **lens}, extras), "all")
    expected = torch.tensor([[-0.12, 0.03, 0.002, -0.001]] * 2 + [[0.05, 0.03, 0.002, 0.0]])
    torch.testing.assert_close(scene.distortion, expected)
    # a world point projected through the lens model (camera -> normalised -> distorted -> pixel) lies on the ray
    # that generate_rays makes for that pixel
    rng = np.random.default_rng(3)
    fx, fy, cx, cy = scene.intrinsics[0].tolist()
    c2w = scene.c2w[0].double()
    camera_points = torch.tensor(np.c_[rng.uniform(-0.4, 0.4, (20, 2)), rng.uniform(-3.0, -1.0, 20)])
    world_points = (c2w[:3, :3] @ camera_points.T).T + c2w[:3, 3]
    x = camera_points[:, 0] / -camera_points[:, 2]
    y = -camera_points[:, 1] / -camera_points[:, 2]  # y down in normalised image coordinates
    xd, yd = distort(x, y, scene.distortion[0].double())
    pixels = torch.stack([cx + fx * xd, cy + fy * yd], dim=-1)
    origins, directions = generate_rays(c2w[None], scene.intrinsics[:1].double(), pixels, scene.distortion[:1].double())
    along = ((world_points - origins) * directions).sum(-1, keepdim=True)
    miss = (origins + along * directions - world_points).norm(dim=-1)
    assert miss.max() < 1e-6
    # without the lens model the same pixels would miss by a lot: the test can fail
    _, plain = generate_rays(c2w[None], scene.intrinsics[:1].double(), pixels)
    assert ((origins + along * plain - world_points).norm(dim=-1)).max() > 1e-3


def test_undistort_inverts_distort():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(-0.6, 0.6, 500))
    y = torch.tensor(rng.uniform(-0.45, 0.45, 500))
    for coeffs in ([-0.25, 0.08, 0.001, -0.002], [0.1, 0.01, -0.003, 0.004], [0.0, 0.0, 0.0, 0.0]):
        coeffs = torch.tensor(coeffs, dtype=torch.float64)
        xd, yd = distort(x, y, coeffs)
        xu, yu = undistort(xd, yd, coeffs)
        assert max((xu - x).abs().max(), (yu - y).abs().max()) < 1e-10
    # float32, as the trainer uses it
    coeffs = torch.tensor([-0.25, 0.08, 0.001, -0.002])
    xd, yd = distort(x.float(), y.float(), coeffs)
    xu, yu = undistort(xd, yd, coeffs)
    assert max((xu - x.float()).abs().max(), (yu - y.float()).abs().max()) < 1e-5


def test_holdout_splits_of_a_single_transforms_file(tmp_path):
    scene_dir = _write_ngp_scene(tmp_path, SHARED, count=10)
    train, val, everything = (load_scene(scene_dir, split) for split in ("train", "val", "all"))
    # natural sort: img_1, img_2, ..., img_10; every 8th from the first is held out
    assert [p.name for p in val.image_paths] == ["img_1.jpg", "img_9.jpg"]
    assert len(train.image_paths) == 8 and not set(train.image_paths) & set(val.image_paths)
    assert [p.name for p in everything.image_paths] == [f"img_{i}.jpg" for i in range(1, 11)]


def test_split_files_and_png_with_alpha(tmp_path):
    scene_dir = _write_ngp_scene(tmp_path, SHARED, count=2, extension=".png", name="transforms_train.json")
    assert detect_format(scene_dir, "train") == "ngp"
    scene = load_scene(scene_dir, "train", downscale=2)
    assert scene.has_alpha and scene.num_images == 2 and (scene.width, scene.height) == (WIDTH // 2, HEIGHT // 2)
    torch.testing.assert_close(scene.intrinsics[0], torch.tensor([15.0, 14.0, 7.5, 6.5]))


def test_declared_size_must_match_the_images(tmp_path):
    scene_dir = _write_ngp_scene(tmp_path, {**SHARED, "w": 64})
    with pytest.raises(SceneFormatError, match=r"declares w=64 but the image is 32x24"):
        load_scene(scene_dir, "all")


def test_unsupported_lens_and_missing_focal_length(tmp_path):
    with pytest.raises(SceneFormatError, match="f-theta / panoramic"):
        load_scene(_write_ngp_scene(tmp_path / "a", {**SHARED, "latlong": True}), "all")
    with pytest.raises(SceneFormatError, match="EQUIRECTANGULAR.*not supported.*Undistort"):
        load_scene(_write_ngp_scene(tmp_path / "c", {**SHARED, "camera_model": "EQUIRECTANGULAR"}), "all")
    with pytest.raises(SceneFormatError, match="no focal length"):
        load_scene(_write_ngp_scene(tmp_path / "b", {"cx": 16.0}), "all")


def test_blender_scene_read_with_instant_ngp_conventions(procedural_dir):
    """The procedural scene (Blender format) read the instant-ngp way: the objects, mapped into ngp space, sit in the
    unit box and still project onto their opaque pixels, so box, cameras and images agree."""
    from fields.datasets.procedural import OBJECTS

    scene = load_scene(procedural_dir, "val", format="ngp")
    assert scene.aabb.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    centres = torch.tensor([obj.centre for obj in OBJECTS])
    mapped = centres @ scene.source_to_world[:3, :3].T + scene.source_to_world[:3, 3]
    assert bool(((mapped > 0) & (mapped < 1)).all())
    for index in range(scene.num_images):
        world_to_camera = torch.linalg.inv(scene.c2w[index])
        camera = mapped @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        fx, fy, cx, cy = scene.intrinsics[index]
        columns = (cx + fx * camera[:, 0] / -camera[:, 2]).long()
        rows = (cy - fy * camera[:, 1] / -camera[:, 2]).long()
        for column, row in zip(columns.tolist(), rows.tolist()):
            if 0 <= column < scene.width and 0 <= row < scene.height:
                assert int(scene.images[index, row, column, 3]) == 255


def test_nerfstudio_split_lists_replace_the_every_8th_holdout(tmp_path):
    held = ["images/img_2.jpg", "./images/img_5.jpg"]
    scene_dir = _write_ngp_scene(tmp_path, {**SHARED, "val_filenames": held, "test_filenames": held,
                                            "train_filenames": ["images/img_1.jpg", "images/img_3.jpg"]}, count=6)
    assert [p.name for p in load_scene(scene_dir, "val").image_paths] == ["img_2.jpg", "img_5.jpg"]
    assert [p.name for p in load_scene(scene_dir, "test").image_paths] == ["img_2.jpg", "img_5.jpg"]
    assert [p.name for p in load_scene(scene_dir, "train").image_paths] == ["img_1.jpg", "img_3.jpg"]
    assert load_scene(scene_dir, "all").num_images == 6
    wrong = _write_ngp_scene(tmp_path / "wrong", {**SHARED, "val_filenames": ["images/nope.jpg"]})
    with pytest.raises(SceneFormatError, match="val_filenames.*nope.jpg"):
        load_scene(wrong, "val")


def test_camera_model_and_applied_transform(tmp_path):
    # applied_transform (capture -> file) is only recorded: poses and points are in the file's frame, which
    # source_to_world maps to the world whether or not the file has one
    applied = np.array([[0.0, -2.0, 0.0, 1.0], [2.0, 0.0, 0.0, -3.0], [0.0, 0.0, 2.0, 0.5]])
    scene_dir = _write_ngp_scene(tmp_path, {**SHARED, "camera_model": "OPENCV", "applied_transform": applied.tolist()})
    scene = load_scene(scene_dir, "all")
    plain = load_scene(_write_ngp_scene(tmp_path / "plain", {**SHARED, "camera_model": "OPENCV"}), "all")
    torch.testing.assert_close(scene.source_to_world, plain.source_to_world)
    torch.testing.assert_close(scene.c2w, plain.c2w)
    poses = [np.array(f["transform_matrix"]) for f in json.loads((scene_dir / "transforms.json").read_text())["frames"]]
    in_file = np.stack([p[:3, 3] for p in poses])
    mapped = in_file @ scene.source_to_world[:3, :3].double().numpy().T + scene.source_to_world[:3, 3].numpy()
    np.testing.assert_allclose(mapped, scene.c2w[:, :3, 3].numpy(), atol=1e-5)
    for model in ("PINHOLE", "SIMPLE_RADIAL"):
        assert load_scene(_write_ngp_scene(tmp_path / model, {**SHARED, "camera_model": model}), "all").num_images


def test_fisheye_rays_agree_with_colmaps_fisheye_camera(tmp_path):
    """OPENCV_FISHEYE frames: each pixel's ray has the direction COLMAP's own camera model gives (pycolmap's
    cam_from_img, an independent implementation), also far off axis where a pinhole lens could not see."""
    pycolmap = pytest.importorskip("pycolmap")
    lens = {"k1": 0.05, "k2": -0.01, "k3": 0.002, "k4": -0.001}
    scene = load_scene(_write_ngp_scene(tmp_path, {**SHARED, "camera_model": "OPENCV_FISHEYE", **lens}), "all")
    assert scene.fisheye and scene.distortion[0].tolist() == pytest.approx(list(lens.values()))
    fx, fy, cx, cy = scene.intrinsics[0].tolist()
    camera = pycolmap.Camera(model="OPENCV_FISHEYE", width=scene.width, height=scene.height,
                             params=[fx, fy, cx, cy, *lens.values()])
    pixels = torch.tensor([[-20.0, -15.0], [0.5, 0.5], [cx, cy], [31.5, 23.5], [3.0, 20.0], [cx + 0.25, cy - 0.1]],
                          dtype=torch.float64)  # the first beyond the image: sensors may be larger than the file
    expected = camera.cam_from_img(pixels.numpy())  # x / z, y / z in OpenCV camera axes (y down, z forward)
    directions = camera_directions(scene.intrinsics[:1].double(), pixels, scene.distortion[:1].double(), fisheye=True)
    forward = -directions[:, 2]  # our camera looks down -z with y up
    got = torch.stack([directions[:, 0] / forward, -directions[:, 1] / forward], dim=-1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert np.degrees(np.arctan(np.hypot(*expected[0]))) > 60  # far off axis
    pinhole = camera_directions(scene.intrinsics[:1].double(), pixels, None)
    assert not torch.allclose(pinhole[:, :2] / -pinhole[:, 2:], torch.from_numpy(got) * torch.tensor([1.0, -1.0]))


def test_a_fisheye_capture_without_coefficients_is_still_fisheye_and_kinds_do_not_mix(tmp_path):
    scene = load_scene(_write_ngp_scene(tmp_path / "a", {**SHARED, "is_fisheye": True}), "all")
    assert scene.fisheye and scene.distortion is not None and not scene.distortion.any()  # equidistant, no pinhole
    sampler = RaySampler(scene)
    batch = sampler.sample(64)
    _, expected = generate_rays(scene.c2w[batch.image_indices], scene.intrinsics[batch.image_indices], batch.pixels,
                                scene.distortion[batch.image_indices], fisheye=True)
    torch.testing.assert_close(batch.directions, expected)
    with pytest.raises(SceneFormatError, match="fisheye and pinhole cameras are mixed"):
        load_scene(_write_ngp_scene(tmp_path / "b", SHARED, {1: {"camera_model": "OPENCV_FISHEYE"}}), "all")
