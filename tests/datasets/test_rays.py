import math

import numpy as np
import pytest
import torch

from fields.datasets import RaySampler, SceneData, generate_rays, image_rays, pixel_grid


def _random_c2w(count, seed=0):
    rng = np.random.default_rng(seed)
    poses = []
    for _ in range(count):
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        rotation *= np.sign(np.linalg.det(rotation))
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rotation, rng.normal(size=3) * 3.0
        poses.append(pose)
    return torch.tensor(np.array(poses), dtype=torch.float32)


def _project(c2w, intrinsics, points):
    """Pixel (u, v) of world ``points`` in an OpenGL camera: x right, y up, looking down -Z; v grows downwards."""
    world_to_camera = torch.linalg.inv(c2w)
    camera = (world_to_camera[:, :3, :3] @ points[..., None]).squeeze(-1) + world_to_camera[:, :3, 3]
    fx, fy, cx, cy = intrinsics.unbind(-1)
    depth = -camera[:, 2]
    return torch.stack([cx + fx * camera[:, 0] / depth, cy - fy * camera[:, 1] / depth], dim=-1)


def test_principal_point_ray_is_the_camera_minus_z_axis():
    c2w = _random_c2w(8)
    intrinsics = torch.tensor([[50.0, 60.0, 31.0, 17.5]]).expand(8, 4)
    origins, directions = generate_rays(c2w, intrinsics, intrinsics[:, 2:])
    torch.testing.assert_close(directions, -c2w[:, :3, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(origins, c2w[:, :3, 3])


def test_image_axes_u_right_v_down():
    c2w = torch.eye(4)[None]
    intrinsics = torch.tensor([[10.0, 10.0, 8.0, 8.0]])
    _, directions = generate_rays(c2w, intrinsics, torch.tensor([[12.0, 8.0], [8.0, 2.0], [8.0, 14.0]]))
    assert directions[0, 0] > 0 and abs(float(directions[0, 1])) < 1e-7  # right of centre: +X
    assert directions[1, 1] > 0  # top row (small v): +Y, up
    assert directions[2, 1] < 0 and bool((directions[:, 2] < 0).all())  # bottom: -Y; all look down -Z


def test_rays_pass_through_the_points_they_were_projected_from():
    count = 64
    c2w = _random_c2w(count, seed=1)
    intrinsics = torch.tensor([[40.0, 45.0, 20.0, 15.0]]).expand(count, 4)
    rng = np.random.default_rng(2)
    camera_points = torch.tensor(np.c_[rng.uniform(-1, 1, (count, 2)), rng.uniform(-6, -0.5, count)],
                                 dtype=torch.float32)
    points = (c2w[:, :3, :3] @ camera_points[..., None]).squeeze(-1) + c2w[:, :3, 3]
    pixels = _project(c2w, intrinsics, points)
    origins, directions = generate_rays(c2w, intrinsics, pixels)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(count))
    along = ((points - origins) * directions).sum(-1, keepdim=True)
    assert bool((along > 0).all())  # the point is in front of the camera
    assert (origins + along * directions - points).norm(dim=-1).max() < 1e-4


def test_broadcasting_and_bad_inputs():
    c2w = _random_c2w(1)
    intrinsics = torch.tensor([[20.0, 20.0, 10.0, 10.0]])
    pixels = pixel_grid(4, 3)
    origins, directions = generate_rays(c2w, intrinsics, pixels)
    assert origins.shape == directions.shape == (12, 3) and origins.is_contiguous()
    per_ray = generate_rays(c2w.expand(12, 4, 4), intrinsics.expand(12, 4), pixels)
    torch.testing.assert_close(directions, per_ray[1])
    torch.testing.assert_close(generate_rays(c2w[:, :3], intrinsics, pixels)[1], directions)  # [B, 3, 4] c2w
    with pytest.raises(ValueError, match="pixels must have shape"):
        generate_rays(c2w, intrinsics, pixels[:, :1])
    with pytest.raises(ValueError, match="batch sizes differ"):
        generate_rays(c2w.expand(2, 4, 4), intrinsics.expand(3, 4), pixels[:3])
    with pytest.raises(TypeError, match="intrinsics must be a floating-point"):
        generate_rays(c2w, intrinsics.long(), pixels)


def _tiny_scene(count=3, width=5, height=4):
    images = torch.arange(count * height * width * 4, dtype=torch.int64).remainder(251).to(torch.uint8)
    return SceneData(
        images=images.reshape(count, height, width, 4),
        c2w=_random_c2w(count, seed=4),
        intrinsics=torch.tensor([[6.0, 7.0, 2.5, 2.0]]).expand(count, 4).contiguous(),
        width=width,
        height=height,
        aabb=torch.tensor([-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]),
        near=2.0,
        far=6.0,
        image_paths=[f"r_{i}.png" for i in range(count)],
    )


def test_image_rays_cover_every_pixel_centre():
    scene = _tiny_scene()
    origins, directions = image_rays(scene, 1)
    assert origins.shape == directions.shape == (4, 5, 3)
    row, column = 3, 1
    expected = generate_rays(scene.c2w[1:2], scene.intrinsics[1:2], torch.tensor([[column + 0.5, row + 0.5]]))
    torch.testing.assert_close(directions[row, column], expected[1][0])
    torch.testing.assert_close(origins[row, column], scene.c2w[1, :3, 3])


def test_ray_sampler_targets_match_their_pixels():
    scene = _tiny_scene()
    sampler = RaySampler(scene, seed=0)
    batch = sampler.sample(4096)
    assert batch.rgba.shape == (4096, 4) and batch.rgba.dtype == torch.float32
    columns, rows = (batch.pixels - 0.5).long().unbind(-1)
    expected = scene.images[batch.image_indices, rows, columns].float() / 255
    torch.testing.assert_close(batch.rgba, expected)
    _, directions = generate_rays(scene.c2w[batch.image_indices], scene.intrinsics[batch.image_indices], batch.pixels)
    torch.testing.assert_close(batch.directions, directions)
    # uniform over images and pixels; reproducible from the seed
    counts = torch.bincount(batch.image_indices, minlength=3).float()
    assert bool(((counts / 4096 - 1 / 3).abs() < 0.05).all())
    assert torch.unique(batch.image_indices * 20 + rows * 5 + columns).numel() == 60
    assert torch.equal(RaySampler(scene, seed=0).sample(16).pixels, RaySampler(scene, seed=0).sample(16).pixels)


@pytest.mark.parametrize("table", [True, False], ids=["direction_table", "per_step_rays"])
def test_ray_sampler_with_per_image_lenses_matches_generate_rays(table, monkeypatch):
    """Three images, two camera models (intrinsics + distortion): the gathered table rows and, past the table's size
    limit, the per-step generation both give each pixel's own ray."""
    if not table:
        monkeypatch.setattr("fields.datasets.rays.MAX_DIRECTION_TABLE_BYTES", 0)
    scene = _tiny_scene()
    scene.intrinsics = torch.tensor([[6.0, 7.0, 2.5, 2.0], [5.0, 5.5, 2.4, 2.1], [6.0, 7.0, 2.5, 2.0]])
    scene.distortion = torch.tensor([[0.1, -0.02, 0.003, 0.001], [-0.05, 0.01, 0.0, 0.002], [0.1, -0.02, 0.003, 0.001]])
    sampler = RaySampler(scene, seed=2)
    assert (sampler.direction_table is not None) == table
    if table:
        assert sampler.direction_table.shape == (2 * 20, 3)  # images 0 and 2 share a model
    batch = sampler.sample(512)
    origins, directions = generate_rays(scene.c2w[batch.image_indices], scene.intrinsics[batch.image_indices],
                                        batch.pixels, scene.distortion[batch.image_indices])
    torch.testing.assert_close(batch.directions, directions)
    torch.testing.assert_close(batch.origins, origins)
    assert torch.unique(batch.image_indices).numel() == 3


def test_ray_sampler_jitter_stays_inside_the_pixel():
    scene = _tiny_scene()
    batch = RaySampler(scene, seed=1, jitter=True).sample(2048)
    fraction = batch.pixels - batch.pixels.floor()
    assert fraction.std() > 0.2  # spread over the pixel, not its centre
    columns, rows = batch.pixels.floor().long().unbind(-1)
    torch.testing.assert_close(batch.rgba, scene.images[batch.image_indices, rows, columns].float() / 255)
    assert math.isclose(float(batch.directions.norm(dim=-1).mean()), 1.0, rel_tol=1e-6)
