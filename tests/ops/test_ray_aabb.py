import pytest
import torch

from fields.ops import ray_aabb_intersect, ray_aabb_intersect_reference

AABB = [-1.0, -0.5, -2.0, 1.5, 1.0, 0.5]


def random_rays(n, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    origins = torch.rand(n, 3, generator=g) * 8 - 4  # some inside the box, most outside
    targets = torch.rand(n, 3, generator=g) * 5 - 2.5
    dirs = (targets - origins) * (torch.rand(n, 1, generator=g) * 2 + 0.1)  # not unit length
    dirs[: n // 8] *= -1  # pointing away
    return origins.to(device), dirs.to(device)


def aabb_tensor(device, values=AABB):
    return torch.tensor(values, dtype=torch.float32, device=device)


def test_matches_reference_bit_for_bit(device):
    o, d = random_rays(5000, device)
    d[::7, 0] = 0.0  # axis-parallel components
    d[::11, 1:] = 0.0
    out = ray_aabb_intersect(o, d, aabb_tensor(device))
    ref = ray_aabb_intersect_reference(o, d, aabb_tensor(device))
    for a, b in zip(out, ref):
        assert torch.equal(a, b)
    assert 0.2 < out[2].float().mean() < 0.8  # the sample has both hits and misses


def test_hits_lie_on_the_box_surface(device):
    o, d = random_rays(5000, device, seed=1)
    box = aabb_tensor(device)
    t_near, t_far, hit = ray_aabb_intersect(o, d, box)
    inside = ((o >= box[:3]) & (o <= box[3:])).all(-1)
    assert torch.equal(t_near[inside], torch.zeros_like(t_near[inside]))
    assert bool(hit[inside].all())
    for t, rays in [(t_far, hit), (t_near, hit & ~inside)]:
        p = o[rays] + t[rays, None] * d[rays]
        outside_by = torch.maximum(box[:3] - p, p - box[3:]).amax(-1)  # 0 on the surface, < 0 inside
        torch.testing.assert_close(outside_by, torch.zeros_like(outside_by), atol=2e-5, rtol=0)
    mid = o[hit] + (0.5 * (t_near + t_far))[hit, None] * d[hit]
    assert bool(((mid >= box[:3] - 1e-5) & (mid <= box[3:] + 1e-5)).all())


def test_known_rays(device):
    o = torch.tensor([[-5.0, 0, 0], [0, 0, 0], [0, 5, 0], [-5, 0, 0], [3, 0, 0], [-5, 2, 0], [-5, 1, 0]], device=device)
    d = torch.tensor([[2.0, 0, 0], [0, 0, 1], [0, -1, 0], [-1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], device=device)
    t_near, t_far, hit = ray_aabb_intersect(o, d, aabb_tensor(device, [-1, -1, -1, 1, 1, 1]))
    miss = 1e10
    expected_near = torch.tensor([2.0, 0, 4, miss, miss, miss, 4], device=device)
    expected_far = torch.tensor([3.0, 1, 6, miss, miss, miss, 6], device=device)
    # entering along x at half speed; inside; axis-parallel from above; box behind (twice); parallel outside the slab;
    # parallel on a face (faces count as inside)
    torch.testing.assert_close(t_near, expected_near)
    torch.testing.assert_close(t_far, expected_far)
    assert hit.tolist() == [True, True, True, False, False, False, True]


def test_zero_direction_components_never_give_nan(device):
    o = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, -5.0], [1.0, 1.0, 0.0], [0.5, 0.2, 0.3]], device=device)
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]], device=device)
    for out in ray_aabb_intersect(o, d, aabb_tensor(device, [-1, -1, -1, 1, 1, 1]))[:2]:
        assert not bool(out.isnan().any())
    t_near, t_far, hit = ray_aabb_intersect(o, d, aabb_tensor(device, [-1, -1, -1, 1, 1, 1]))
    assert hit.tolist() == [True, True, True, True]
    assert t_near.tolist() == [0.0, 4.0, 0.0, 0.0]
    assert t_far.tolist()[:3] == [1.0, 6.0, 1.0]
    assert t_far[3] == torch.inf  # a zero direction inside the box never leaves it


def test_empty_batch(device):
    out = ray_aabb_intersect(torch.zeros(0, 3, device=device), torch.zeros(0, 3, device=device), aabb_tensor(device))
    assert [t.shape for t in out] == [(0,), (0,), (0,)]
    assert out[2].dtype == torch.bool


def test_bad_input_names_the_argument(device):
    o, d, box = torch.zeros(4, 3, device=device), torch.ones(4, 3, device=device), aabb_tensor(device)
    with pytest.raises(TypeError, match="rays_o"):
        ray_aabb_intersect(o.double(), d, box)
    with pytest.raises(ValueError, match="rays_d"):
        ray_aabb_intersect(o, d[:3], box)
    with pytest.raises(ValueError, match="aabb"):
        ray_aabb_intersect(o, d, box[:3])
    with pytest.raises(ValueError, match="contiguous"):
        ray_aabb_intersect(o, torch.ones(3, 4, device=device).T, box)
