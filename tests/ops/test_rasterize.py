import math
from pathlib import Path

import pytest
import torch

from fields.io.mesh import load_obj
from fields.ops import rasterize, rasterize_reference

BUNNY = Path(__file__).resolve().parents[3] / "shared" / "data" / "sdf" / "bunny.obj"


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> torch.Tensor:
    """Camera-to-world [4, 4] of a camera at `eye` looking at `target` (OpenGL axes: the camera looks down -Z)."""
    eye, target, up = (torch.tensor(x, dtype=torch.float64) for x in (eye, target, up))
    back = torch.nn.functional.normalize(eye - target, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(up, back), dim=0)
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, torch.linalg.cross(back, right), back, eye
    return c2w.float()


def assert_matches_reference(out, ref, max_mismatch_fraction=2e-3):
    """Same triangle on all but a tiny fraction of pixels (float rounding can flip a pixel centre lying within
    ~1e-7 of an edge, or two depths within an ulp); equal depth and colour wherever the triangle is the same."""
    same = out.triangle_id == ref.triangle_id
    assert (~same).sum().item() <= max_mismatch_fraction * same.numel(), "triangle ids differ on too many pixels"
    torch.testing.assert_close(out.depth[same], ref.depth[same], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.rgb[same], ref.rgb[same], rtol=1e-5, atol=1e-5)
    assert_background_is_clean(out)


def assert_background_is_clean(out):
    background = out.triangle_id < 0
    assert torch.isinf(out.depth[background]).all() and (out.rgb[background] == 0).all()
    assert torch.isfinite(out.depth[~background]).all() and torch.isfinite(out.rgb).all()


def random_scene(seed, device, faces_dtype=torch.int64):
    """Random triangles around the origin seen from a random direction at distance 3; some of them reach the near
    plane (0.8) or lie partly behind the camera."""
    g = torch.Generator().manual_seed(seed)
    num_triangles = 60
    centers = torch.randn(num_triangles, 1, 3, generator=g) * 0.8
    vertices = (centers + 0.5 * torch.randn(num_triangles, 3, 3, generator=g)).reshape(-1, 3)
    order = torch.randperm(vertices.shape[0], generator=g)  # shuffled vertex indices exercise the edge ordering
    vertices = vertices[order]
    faces = torch.argsort(order).reshape(-1, 3).to(faces_dtype)
    colors = torch.rand(vertices.shape[0], 3, generator=g)
    direction = torch.nn.functional.normalize(torch.randn(3, generator=g), dim=0)
    c2w = look_at((3.0 * direction).tolist(), (0.0, 0.0, 0.0))
    return vertices.to(device), faces.to(device), colors.to(device), c2w


def cube(device):
    corners = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = torch.tensor([tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))])
    colors = (corners + 1) / 2
    return corners.to(device), faces.to(device), colors.to(device)




@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_meshes_match_reference(device, seed):
    vertices, faces, colors, c2w = random_scene(seed, device, torch.int32 if seed == 1 else torch.int64)
    intrinsics = (70.0, 66.0, 37.5, 25.0)
    out = rasterize(vertices, faces, colors, c2w, intrinsics, 72, 52, near=0.8)
    ref = rasterize_reference(vertices, faces, colors, c2w, intrinsics, 72, 52, near=0.8)
    assert (ref.triangle_id >= 0).float().mean() > 0.3, "the scene should cover a good part of the image"
    assert_matches_reference(out, ref)
    drawn = out.triangle_id >= 0
    assert (out.depth[drawn] >= 0.8).all()


@pytest.mark.parametrize("eye", [(2.5, 3.0, 4.0), (0.0, 0.0, 0.0)])
def test_cube_matches_reference(device, eye):
    vertices, faces, colors = cube(device)
    c2w = look_at(eye, (0.1, -0.2, 0.3) if eye == (0.0, 0.0, 0.0) else (0.0, 0.0, 0.0))
    out = rasterize(vertices, faces, colors, c2w, (40.0, 40.0, 32.0, 24.0), 64, 48)
    ref = rasterize_reference(vertices, faces, colors, c2w, (40.0, 40.0, 32.0, 24.0), 64, 48)
    assert_matches_reference(out, ref)
    if eye == (0.0, 0.0, 0.0):  # inside a closed mesh every pixel sees a wall
        assert (out.triangle_id >= 0).all()


def test_occlusion(device):
    # A large far triangle (depth 3) and a small near one (depth 1) in front of it, in both orders.
    vertices = torch.tensor([[-3.0, -3.0, -3.0], [3.0, -3.0, -3.0], [0.0, 3.0, -3.0],
                             [-0.2, -0.2, -1.0], [0.2, -0.2, -1.0], [0.0, 0.2, -1.0]], device=device)
    colors = torch.tensor([[1.0, 0.0, 0.0]] * 3 + [[0.0, 1.0, 0.0]] * 3, device=device)
    for faces, near_id in (([[0, 1, 2], [3, 4, 5]], 1), ([[3, 4, 5], [0, 1, 2]], 0)):
        faces = torch.tensor(faces, device=device)
        out = rasterize(vertices, faces, colors, torch.eye(4), (32.0, 32.0, 16.0, 16.0), 32, 32)
        front = out.triangle_id == near_id
        assert 10 < front.sum() < 200
        torch.testing.assert_close(out.depth[front], torch.ones_like(out.depth[front]))
        torch.testing.assert_close(out.rgb[front], torch.tensor([0.0, 1.0, 0.0], device=device).expand(front.sum(), 3))
        behind = (out.triangle_id >= 0) & ~front
        torch.testing.assert_close(out.depth[behind], torch.full_like(out.depth[behind], 3.0))
        assert behind.sum() > front.sum()


def test_equal_depth_lower_triangle_id_wins(device):
    # Two coincident triangles with different colours: the first one is drawn everywhere, whatever the order.
    vertices = torch.tensor([[-1.0, -1.0, -2.0], [1.0, -1.0, -2.0], [0.0, 1.0, -2.0]] * 2, device=device)
    colors = torch.tensor([[1.0, 0.0, 0.0]] * 3 + [[0.0, 0.0, 1.0]] * 3, device=device)
    for faces, first_color in (([[0, 1, 2], [3, 4, 5]], 0), ([[3, 4, 5], [0, 1, 2]], 2)):
        out = rasterize(vertices, torch.tensor(faces, device=device), colors, torch.eye(4), (16.0, 16.0, 8.0, 8.0), 16, 16)
        drawn = out.triangle_id >= 0
        assert drawn.sum() > 20 and (out.triangle_id[drawn] == 0).all()
        assert (out.rgb[drawn][:, first_color] == 1).all()


def test_both_windings_are_drawn_alike(device):
    vertices, faces, colors, c2w = random_scene(5, device)
    args = (c2w, (70.0, 66.0, 37.5, 25.0), 72, 52)
    out = rasterize(vertices, faces, colors, *args, near=0.8)
    flipped = rasterize(vertices, faces.flip(1).contiguous(), colors, *args, near=0.8)
    assert (out.triangle_id >= 0).any()
    assert torch.equal(out.triangle_id, flipped.triangle_id)
    torch.testing.assert_close(out.depth, flipped.depth)
    torch.testing.assert_close(out.rgb, flipped.rgb)


def test_empty_mesh_gives_background(device):
    for num_vertices in (0, 5):
        out = rasterize(torch.zeros(num_vertices, 3, device=device), torch.zeros(0, 3, dtype=torch.long, device=device),
                        torch.zeros(num_vertices, 3, device=device), torch.eye(4), (8.0, 8.0, 4.0, 3.0), 8, 6)
        assert out.rgb.shape == (6, 8, 3) and out.depth.shape == (6, 8) and out.triangle_id.shape == (6, 8)
        assert (out.triangle_id == -1).all() and torch.isinf(out.depth).all() and (out.rgb == 0).all()
    vertices, faces, colors = cube(device)
    empty = rasterize(vertices, faces, colors, look_at((3.0, 3.0, 3.0), (0.0, 0.0, 0.0)), (8.0, 8.0, 4.0, 0.0), 8, 0)
    assert empty.rgb.shape == (0, 8, 3) and empty.triangle_id.shape == (0, 8)


def test_triangles_behind_the_camera_are_not_drawn(device):
    # A triangle behind the camera (it would cover the whole view if mirrored) and one behind the near plane.
    vertices = torch.tensor([[-5.0, -5.0, 1.0], [5.0, -5.0, 1.0], [0.0, 5.0, 1.0],
                             [-5.0, -5.0, -0.05], [5.0, -5.0, -0.05], [0.0, 5.0, -0.05]], device=device)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]], device=device)
    out = rasterize(vertices, faces, torch.rand(6, 3, device=device), torch.eye(4), (16.0, 16.0, 8.0, 8.0), 16, 16,
                    near=0.1)
    assert (out.triangle_id == -1).all()


def test_triangle_crossing_the_near_plane_is_clipped(device):
    # Two vertices at depth 3, the third behind the camera (depth -2): only the part at depth >= near = 1 is drawn.
    vertices = torch.tensor([[-1.0, -2.0, -3.0], [1.0, -2.0, -3.0], [0.0, 3.0, 2.0]], device=device)
    faces = torch.tensor([[0, 1, 2]], device=device)
    colors = torch.rand(3, 3, device=device)
    args = (torch.eye(4), (24.0, 24.0, 16.0, 16.0), 32, 32)
    out = rasterize(vertices, faces, colors, *args, near=1.0)
    ref = rasterize_reference(vertices, faces, colors, *args, near=1.0)
    assert_matches_reference(out, ref)
    drawn = out.triangle_id == 0
    assert drawn.sum() > 200 and (out.depth[drawn] >= 1.0).all() and out.depth[drawn].max() <= 3.0


def test_perspective_correct_interpolation_and_pixel_convention(device):
    # A slanted triangle: depth and colour must be those of the exact ray-plane hit (computed here in float64 from
    # the documented pixel-ray convention), not screen-space interpolation.
    vertices = torch.tensor([[-2.0, -1.5, -1.5], [2.0, -1.0, -6.0], [0.0, 2.5, -3.0]], dtype=torch.float64)
    colors = torch.eye(3, dtype=torch.float64)  # the colour is the barycentric triple
    fx, fy, cx, cy = 30.0, 28.0, 20.5, 13.0
    out = rasterize(vertices.float().to(device), torch.tensor([[0, 1, 2]], device=device),
                    colors.float().to(device), torch.eye(4), (fx, fy, cx, cy), 40, 30, near=0.1)
    v, u = torch.meshgrid(torch.arange(30, dtype=torch.float64), torch.arange(40, dtype=torch.float64), indexing="ij")
    rays = torch.stack([(u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -torch.ones_like(u)], dim=-1)
    a, b, c = vertices
    normal = torch.linalg.cross(b - a, c - a)
    t = (a @ normal) / (rays @ normal)
    hit = rays * t[..., None]

    def area(p, q, r):  # signed, times |normal|
        return torch.linalg.cross(*torch.broadcast_tensors(q - p, r - p)) @ normal

    bary = torch.stack([area(hit, b, c), area(a, hit, c), area(a, b, hit)], dim=-1) / (normal @ normal)
    expected_drawn = (bary >= 1e-4).all(-1)
    drawn = (out.triangle_id == 0).cpu()
    assert drawn[expected_drawn].all() and not drawn[(bary <= -1e-4).any(-1)].any()
    torch.testing.assert_close(out.depth.cpu()[drawn].double(), t[drawn], rtol=1e-5, atol=0)
    torch.testing.assert_close(out.rgb.cpu()[drawn].double(), bary[drawn], rtol=0, atol=1e-5)
    assert out.rgb[0, :, 2].max() > 0.5 > out.rgb[-1, :, 2].max()  # the top vertex (+Y) is drawn at the top rows


@pytest.mark.parametrize("scale", [2.0**40, 2.0**-40])
def test_huge_and_tiny_scenes_render_like_unit_ones(device, scale):
    # Scaling the scene, the camera position and near by a power of two scales every intermediate exactly, so the
    # image must be the same and the depth scaled; nothing may overflow or underflow on the way.
    vertices, faces, colors, c2w = random_scene(4, device)
    scaled_c2w = c2w.clone()
    scaled_c2w[:3, 3] *= scale
    args = ((70.0, 66.0, 37.5, 25.0), 72, 52)
    out = rasterize(vertices, faces, colors, c2w, *args, near=0.8)
    scaled = rasterize(vertices * scale, faces, colors, scaled_c2w, *args, near=0.8 * scale)
    assert (out.triangle_id >= 0).any()
    assert torch.equal(scaled.triangle_id, out.triangle_id) and torch.equal(scaled.rgb, out.rgb)
    assert torch.equal(scaled.depth, out.depth * scale)


@pytest.mark.parametrize("tilt", [False, True])
def test_no_cracks_between_adjacent_triangles(device, tilt):
    # A 24 x 24 grid of jittered triangles filling the whole view; with tilt=False it is a quad split along a
    # diagonal that passes exactly through pixel centres, plus the jittered grid behind it.
    g = torch.Generator().manual_seed(3)
    n = 24
    ys, xs = torch.meshgrid(torch.linspace(-3, 3, n + 1), torch.linspace(-3, 3, n + 1), indexing="ij")
    jitter = 0.3 * (6 / n) * (torch.rand(n + 1, n + 1, 2, generator=g) - 0.5)
    jitter[[0, -1]] = 0
    jitter[:, [0, -1]] = 0
    grid = torch.stack([xs + jitter[..., 0], ys + jitter[..., 1], torch.zeros_like(xs)], dim=-1).reshape(-1, 3)
    idx = torch.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    split = torch.rand(n, n, generator=g) < 0.5  # random diagonal per cell
    tri1 = torch.where(split[..., None], torch.stack([a, b, d], -1), torch.stack([a, b, c], -1))
    tri2 = torch.where(split[..., None], torch.stack([a, d, c], -1), torch.stack([b, d, c], -1))
    faces = torch.cat([tri1.reshape(-1, 3), tri2.reshape(-1, 3)])
    if tilt:
        c2w = look_at((0.7, -0.5, 2.0), (0.1, 0.1, 0.0))
        vertices = grid
    else:  # a quad at depth 1 in front of the grid, its diagonal on pixel centres u + v = 31 (square image)
        c2w = look_at((0.0, 0.0, 3.0), (0.0, 0.0, 0.0))
        quad = torch.tensor([[-2.0, -2.0, 2.0], [2.0, -2.0, 2.0], [2.0, 2.0, 2.0], [-2.0, 2.0, 2.0]])
        vertices = torch.cat([quad, grid])
        faces = torch.cat([torch.tensor([[0, 1, 2], [0, 2, 3]]), faces + 4])
    colors = torch.rand(vertices.shape[0], 3, generator=g)
    out = rasterize(vertices.to(device), faces.to(device), colors.to(device), c2w, (32.0, 32.0, 16.0, 16.0), 32, 32)
    assert (out.triangle_id >= 0).all(), f"{(out.triangle_id < 0).sum().item()} background pixels (cracks)"
    if not tilt:
        assert (out.triangle_id <= 1).all()
        torch.testing.assert_close(out.depth, torch.ones_like(out.depth))


def test_result_does_not_depend_on_thread_count():
    vertices, faces, colors, c2w = random_scene(7, "cpu")
    args = (vertices, faces, colors, c2w, (200.0, 200.0, 100.0, 90.0), 200, 180)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = rasterize(*args, near=0.8)
    finally:
        torch.set_num_threads(threads)
    parallel = rasterize(*args, near=0.8)
    assert all(torch.equal(x, y) for x, y in zip(single, parallel))


def test_bunny(device):
    if not BUNNY.exists():
        pytest.skip(f"{BUNNY} is not present (shared data not mounted)")
    vertices, faces = load_obj(BUNNY)
    center = (vertices.min(0).values + vertices.max(0).values) / 2
    radius = (vertices - center).norm(dim=1).max().item()
    distance = 3.0 * radius
    colors = (vertices - vertices.min(0).values) / (vertices.max(0).values - vertices.min(0).values)
    size = 256
    focal = 0.5 * size / math.tan(1.1 * math.asin(radius / distance))  # the bounding sphere fits in the view
    direction = torch.nn.functional.normalize(torch.tensor([0.6, 0.3, 0.75]), dim=0)
    c2w = look_at((center + distance * direction).tolist(), center.tolist())
    out = rasterize(vertices.to(device), faces.to(device), colors.to(device), c2w, (focal, focal, size / 2, size / 2),
                    size, size)
    drawn = out.triangle_id >= 0
    assert drawn.float().mean() > 0.1
    assert out.depth[drawn].min() >= distance - radius - 1e-5 and out.depth[drawn].max() <= distance + radius + 1e-5
    assert out.triangle_id.max() < faces.shape[0]
    assert out.rgb.min() >= -1e-6 and out.rgb.max() <= 1 + 1e-6
    assert_background_is_clean(out)


def test_bad_input_names_the_argument(device):
    vertices, faces, colors = cube(device)
    good = dict(vertices=vertices, faces=faces, colors=colors, c2w=torch.eye(4), intrinsics=(8.0, 8.0, 4.0, 4.0),
                width=8, height=8)

    def call(**changes):
        rasterize(**{**good, **changes})

    with pytest.raises(TypeError, match="vertices"):
        call(vertices=vertices.double())
    with pytest.raises(ValueError, match="vertices"):
        call(vertices=vertices[:, :2].contiguous())
    with pytest.raises(TypeError, match="faces"):
        call(faces=faces.float())
    with pytest.raises(ValueError, match="faces"):
        call(faces=faces[:, :2].contiguous())
    with pytest.raises(ValueError, match="faces"):
        call(faces=torch.where(faces == 7, 8, faces))  # index 8 of 8 vertices
    with pytest.raises(ValueError, match="faces"):
        call(faces=torch.where(faces == 7, -1, faces))
    with pytest.raises(ValueError, match="colors"):
        call(colors=colors[:4])
    with pytest.raises(TypeError, match="colors"):
        call(colors=colors.half())
    with pytest.raises(ValueError, match="contiguous"):
        call(colors=torch.zeros(3, 8, device=device).T)
    with pytest.raises(TypeError, match="c2w"):
        call(c2w=torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="c2w"):
        call(c2w=torch.eye(3))
    with pytest.raises(ValueError, match="c2w"):
        call(c2w=torch.zeros(4, 4))
    with pytest.raises(ValueError, match="intrinsics"):
        call(intrinsics=(0.0, 8.0, 4.0, 4.0))
    with pytest.raises(ValueError, match="intrinsics"):
        call(intrinsics=(8.0, 8.0, 4.0))
    with pytest.raises(ValueError, match="width"):
        call(width=-1)
    with pytest.raises(ValueError, match="near"):
        rasterize(**good, near=0.0)
