import math

import pytest
import torch

from fields.ops import (
    pack_bitfield_reference,
    ray_aabb_intersect,
    ray_marching,
    ray_marching_reference,
    select_samples,
)
from fields.ops.occupancy_grid import grid_level_aabbs
from fields.render import OccupancyGrid

AABB = [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5]
STEP = 0.02


def camera_rays(n, device, seed=0, radius=4.0):
    """Rays from a sphere around the box towards random points inside it, plus rays starting inside the box."""
    g = torch.Generator().manual_seed(seed)
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * radius
    origins[: n // 5] = torch.rand(n // 5, 3, generator=g) * 2.8 - 1.4  # start inside
    targets = torch.rand(n, 3, generator=g) * 3.4 - 1.7  # some rays miss
    dirs = torch.nn.functional.normalize(targets - origins, dim=-1)
    dirs[1::9, 0] = 0.0  # axis-parallel components
    dirs[2::9, 1:] = 0.0
    dirs[2::9, 0] = 1.0
    return origins.to(device), dirs.to(device)


def random_binary(levels, resolution, fraction, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(levels, resolution, resolution, resolution, generator=g) < fraction


def sphere_binary(levels, resolution, radius):
    """Cells whose centre lies inside a sphere of ``radius`` (world units) around the origin, at every level."""
    binary = torch.zeros(levels, resolution, resolution, resolution, dtype=torch.bool)
    boxes = grid_level_aabbs(torch.tensor(AABB), levels)
    for level in range(levels):
        lo, hi = boxes[level, :3], boxes[level, 3:]
        axis = (torch.arange(resolution) + 0.5) / resolution
        centres = lo + torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1) * (hi - lo)
        binary[level] = centres.norm(dim=-1) < radius
    return binary


def march(fn, o, d, binary, device, *, t_range=None, **kwargs):
    levels, resolution = binary.shape[0], binary.shape[1]
    aabb = torch.tensor(AABB, device=device)
    if t_range is None:
        t_range = ray_aabb_intersect(o, d, grid_level_aabbs(aabb, levels)[-1].contiguous())[:2]
    bitfield = pack_bitfield_reference(binary.flatten()).to(device)
    kwargs.setdefault("render_step_size", STEP)
    return fn(o, d, *t_range, bitfield, aabb, levels, resolution, **kwargs)


def assert_same_samples(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and torch.equal(x.cpu(), y.cpu())


def assert_packed_layout(samples, n_rays):
    ray_indices, t_starts, t_ends, packed_info = (x.cpu() for x in samples)
    assert packed_info.shape == (n_rays, 2) and packed_info.dtype == torch.int64
    first, count = packed_info[:, 0], packed_info[:, 1]
    assert torch.equal(first, torch.cumsum(count, 0) - count)
    assert torch.equal(ray_indices, torch.repeat_interleave(torch.arange(n_rays), count))
    same_ray = ray_indices[1:] == ray_indices[:-1]
    assert bool((t_starts[1:][same_ray] >= t_ends[:-1][same_ray]).all())  # sorted by t, not overlapping
    assert bool((t_ends > t_starts).all())


@pytest.mark.parametrize(
    "levels, occupancy, cone_angle",
    [(1, "random", 0.0), (1, "sphere", 0.0), (2, "random", 0.0), (3, "sphere", 1 / 64), (1, "random", 1 / 32)],
)
def test_matches_reference_bit_for_bit(device, levels, occupancy, cone_angle):
    resolution = 16
    binary = random_binary(levels, resolution, 0.3) if occupancy == "random" else sphere_binary(levels, resolution, 1.2)
    o, d = camera_rays(300, device, radius=4.0 * 2 ** (levels - 1))
    kwargs = dict(cone_angle=cone_angle, max_samples_per_ray=10_000)
    out = march(ray_marching, o, d, binary, device, **kwargs)
    ref = march(ray_marching_reference, o, d, binary, device, **kwargs)
    assert out.t_starts.shape[0] > 1000
    assert_same_samples(out, ref)
    assert_packed_layout(out, o.shape[0])
    if cone_angle > 0:
        expected_dt = torch.clamp(out.t_starts * cone_angle, min=STEP)
        full_steps = torch.ones_like(out.t_starts, dtype=torch.bool)
        full_steps[(out.packed_info[:, 0] + out.packed_info[:, 1] - 1)[out.packed_info[:, 1] > 0]] = False  # clipped
        torch.testing.assert_close((out.t_ends - out.t_starts)[full_steps], expected_dt[full_steps], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("levels, occupancy, cone_angle",
                         [(1, "sparse", 0.0), (1, "sphere", 0.0), (2, "sparse", 1 / 256)])
def test_matches_reference_where_whole_blocks_are_empty(device, levels, occupancy, cone_angle):
    """At 64³ most 8³ blocks are empty (scattered cells, or a small sphere), so rays jump block by block there."""
    resolution = 64
    if occupancy == "sparse":
        binary = random_binary(levels, resolution, 0.003)
    else:
        binary = sphere_binary(levels, resolution, 0.6)
    blocks = binary.view(levels, 8, 8, 8, 8, 8, 8).any(dim=6).any(dim=4).any(dim=2)
    assert 0.1 < blocks.float().mean() < 0.9
    o, d = camera_rays(300, device, radius=4.0 * 2 ** (levels - 1))
    kwargs = dict(cone_angle=cone_angle, max_samples_per_ray=10_000, render_step_size=0.005)
    out = march(ray_marching, o, d, binary, device, **kwargs)
    ref = march(ray_marching_reference, o, d, binary, device, **kwargs)
    assert out.t_starts.shape[0] > 200
    assert_same_samples(out, ref)
    assert_packed_layout(out, o.shape[0])


def test_stratified_matches_reference_with_the_same_seed(device):
    binary = random_binary(1, 16, 0.5)
    o, d = camera_rays(200, device)
    make = lambda: torch.Generator(device=device).manual_seed(7)
    out = march(ray_marching, o, d, binary, device, stratified=True, generator=make())
    assert_same_samples(out, march(ray_marching_reference, o, d, binary, device, stratified=True, generator=make()))
    assert_same_samples(out, march(ray_marching, o, d, binary, device, stratified=True, generator=make()))


def test_stratified_shifts_each_ray_by_less_than_a_step(device):
    o, d = camera_rays(200, device)
    t_near, _, hit = ray_aabb_intersect(o, d, torch.tensor(AABB, device=device))
    out = march(ray_marching, o, d, torch.ones(1, 8, 8, 8, dtype=torch.bool), device, stratified=True)
    has = out.packed_info[:, 1] > 0
    shift = (out.t_starts[out.packed_info[has, 0]] - t_near[has]) / STEP
    assert bool((shift >= 0).all()) and bool((shift < 1).all())
    assert 0.3 < float(shift.mean()) < 0.7  # one uniform offset per ray


def test_near_and_far_planes(device):
    binary = random_binary(1, 16, 0.6)
    o, d = camera_rays(200, device)
    kwargs = dict(near_plane=3.0, far_plane=4.5)
    out = march(ray_marching, o, d, binary, device, **kwargs)
    assert_same_samples(out, march(ray_marching_reference, o, d, binary, device, **kwargs))
    assert out.t_starts.shape[0] > 0
    assert bool((out.t_starts >= 3.0).all()) and bool((out.t_ends <= 4.5).all())


def test_empty_grid_gives_no_samples(device):
    o, d = camera_rays(100, device)
    out = march(ray_marching, o, d, torch.zeros(2, 8, 8, 8, dtype=torch.bool), device)
    assert out.t_starts.shape == (0,) and out.ray_indices.shape == (0,)
    assert out.packed_info.shape == (100, 2) and int(out.packed_info[:, 1].abs().sum()) == 0


def test_full_grid_samples_the_whole_chord(device):
    o, d = camera_rays(500, device, seed=3)
    t_near, t_far, hit = ray_aabb_intersect(o, d, torch.tensor(AABB, device=device))
    out = march(ray_marching, o, d, torch.ones(1, 8, 8, 8, dtype=torch.bool), device)
    assert_packed_layout(out, o.shape[0])
    steps = ((t_far - t_near).double() / STEP).cpu()
    clear = hit.cpu() & ((steps - steps.round()).abs() > 1e-3)  # leave out chords of a whole number of steps
    count = out.packed_info[:, 1].cpu()
    assert int(clear.sum()) > 300
    assert torch.equal(count[clear], steps[clear].ceil().long())
    assert int(count[~hit.cpu()].sum()) == 0
    # the samples tile [t_near, t_far]: start at t_near, each starts where the previous ended, the last is clipped
    first, last = out.packed_info[:, 0], out.packed_info[:, 0] + out.packed_info[:, 1] - 1
    has = out.packed_info[:, 1] > 0
    assert torch.equal(out.t_starts[first[has]], t_near[has])
    assert torch.equal(out.t_ends[last[has]], t_far[has])
    same_ray = out.ray_indices[1:] == out.ray_indices[:-1]
    torch.testing.assert_close(out.t_starts[1:][same_ray], out.t_ends[:-1][same_ray], rtol=0, atol=0)


def test_max_samples_per_ray_caps_each_ray(device):
    o, d = camera_rays(200, device)
    binary = torch.ones(1, 8, 8, 8, dtype=torch.bool)
    full = march(ray_marching, o, d, binary, device)
    capped = march(ray_marching, o, d, binary, device, max_samples_per_ray=40)
    assert_same_samples(capped, march(ray_marching_reference, o, d, binary, device, max_samples_per_ray=40))
    assert torch.equal(capped.packed_info[:, 1], full.packed_info[:, 1].clamp(max=40))
    assert int(full.packed_info[:, 1].max()) > 40
    keep = torch.cat([torch.arange(s, s + min(c, 40)) for s, c in full.packed_info.cpu().tolist()])
    assert torch.equal(capped.t_starts.cpu(), full.t_starts.cpu()[keep])


def test_empty_batch(device):
    o = torch.zeros(0, 3, device=device)
    for fn in (ray_marching, ray_marching_reference):
        out = march(fn, o, o, torch.ones(1, 4, 4, 4, dtype=torch.bool), device, stratified=True)
        assert [x.shape for x in out] == [(0,), (0,), (0,), (0, 2)]


def test_special_rays(device):
    """A ray along a row of cells (axis-parallel, on cell faces) sees exactly its one occupied cell; a ray starting in
    the box starts at t = 0; a ray that misses gets nothing."""
    binary = torch.zeros(1, 8, 8, 8, dtype=torch.bool)
    binary[0, 5, 4, 4] = True  # x in [0.375, 0.75], y and z in [0, 0.375]
    o = torch.tensor([[-3.0, 0.0, 0.0], [0.5, 0.1, 0.1], [-3.0, 2.0, 0.0]], device=device)
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], device=device)
    step = 0.375 / 8
    out = march(ray_marching, o, d, binary, device, render_step_size=step)
    assert_same_samples(out, march(ray_marching_reference, o, d, binary, device, render_step_size=step))
    assert out.packed_info[:, 1].tolist() == [8, 5, 0]
    torch.testing.assert_close(out.t_starts[:8].cpu(), 3.375 + step * torch.arange(8.0))
    assert out.t_starts[8] == 0.0  # starts inside the box (in the occupied cell)
    torch.testing.assert_close(out.t_ends[8:].cpu(), step * torch.arange(1.0, 6.0))


# At 16³ every 8³ block holds part of the solid box, so empty space is skipped cell by cell; at 64³ the box lies
# inside some blocks, straddles others and leaves most empty, so it is skipped block by block too.
@pytest.mark.parametrize("scale", [1, 4])
def test_skipping_keeps_every_step_inside_an_occupied_block(device, scale):
    """Independent of the reference: with a solid block of occupied cells, the samples are exactly the steps of the
    lattice t_near + k·step whose midpoints fall inside the block (up to rounding at the block's faces)."""
    resolution = 16 * scale
    binary = torch.zeros(1, resolution, resolution, resolution, dtype=torch.bool)
    lower, upper = [scale * c for c in (4, 6, 3)], [scale * c for c in (12, 10, 13)]
    binary[0, lower[0] : upper[0], lower[1] : upper[1], lower[2] : upper[2]] = True
    cell = 3.0 / resolution
    block_lo = torch.tensor([-1.5 + c * cell for c in lower], dtype=torch.float64)
    block_hi = torch.tensor([-1.5 + c * cell for c in upper], dtype=torch.float64)
    o, d = camera_rays(300, device, seed=5)
    t_near, t_far, hit = (x.cpu() for x in ray_aabb_intersect(o, d, torch.tensor(AABB, device=device)))
    out = march(ray_marching, o, d, binary, device)
    o64, d64 = o.cpu().double(), d.cpu().double()
    total = 0
    for i in torch.nonzero(hit)[:, 0].tolist():
        k = torch.arange(math.ceil((t_far[i] - t_near[i]) / STEP) + 1, dtype=torch.float64)
        mid = t_near[i].double() + (k + 0.5) * STEP
        mid = torch.minimum(mid, (t_near[i].double() + k * STEP + t_far[i].double()) / 2)  # clipped last step
        x = o64[i] + mid[:, None] * d64[i]
        depth = torch.minimum(x - block_lo, block_hi - x).amin(-1)  # > 0 inside the block
        valid = (t_near[i].double() + k * STEP) < t_far[i].double()
        start, count = out.packed_info[i].tolist()
        got = ((out.t_starts[start : start + count].cpu().double() - t_near[i].double()) / STEP).round().long()
        inside = set(k[valid & (depth > 1e-4)].long().tolist())
        ambiguous = set(k[valid & (depth.abs() <= 1e-4)].long().tolist())
        assert inside <= set(got.tolist()) <= inside | ambiguous, i
        total += len(inside)
    assert total > 1000


def test_cascaded_levels(device):
    """Full cascade of 2 levels: samples tile the chord through the outer box; the inner box uses the fine level."""
    levels, resolution = 2, 8
    o, d = camera_rays(200, device, seed=2, radius=8.0)
    outer = grid_level_aabbs(torch.tensor(AABB, device=device), levels)[-1].contiguous()
    t_near, t_far, hit = ray_aabb_intersect(o, d, outer)
    full = march(ray_marching, o, d, torch.ones(levels, resolution, resolution, resolution, dtype=torch.bool), device)
    steps = ((t_far - t_near).double() / STEP).cpu()
    clear = hit.cpu() & ((steps - steps.round()).abs() > 1e-3)
    assert torch.equal(full.packed_info[:, 1].cpu()[clear], steps[clear].ceil().long())
    only_outer = torch.ones(levels, resolution, resolution, resolution, dtype=torch.bool)
    only_outer[0] = False
    out = march(ray_marching, o, d, only_outer, device)
    assert_same_samples(out, march(ray_marching_reference, o, d, only_outer, device))
    mid = (0.5 * (out.t_starts + out.t_ends))[:, None]
    x = o[out.ray_indices] + mid * d[out.ray_indices]
    assert not bool((x.abs() < 1.5 - 1e-4).all(-1).any())  # nothing inside the (empty) level-0 box
    assert 0 < out.t_starts.shape[0] < full.t_starts.shape[0]


def test_occupancy_grid_sample(device):
    grid = OccupancyGrid(AABB, resolution=16, levels=2).to(device)
    grid.update(0, lambda x: (x.norm(dim=-1) < 1.0).float())
    o, d = camera_rays(100, device, radius=7.0)
    samples = grid.sample(o, d, render_step_size=STEP, near_plane=0.5)
    t_near, t_far, _ = ray_aabb_intersect(o, d, grid.level_aabbs()[-1].contiguous())
    expected = ray_marching(o, d, t_near, t_far, grid.bitfield, grid.aabb, 2, 16, render_step_size=STEP, near_plane=0.5)
    assert_same_samples(samples, expected)
    mid = (0.5 * (samples.t_starts + samples.t_ends))[:, None]
    radius = (o[samples.ray_indices] + mid * d[samples.ray_indices]).norm(dim=-1)
    assert samples.t_starts.shape[0] > 500 and bool((radius < 1.0 + 3.0 / 16 * 3**0.5).all())


def test_select_samples_keeps_the_packed_layout(device):
    grid = OccupancyGrid(AABB, resolution=16, levels=2).to(device)
    grid.update(0, lambda x: (x.norm(dim=-1) < 1.0).float())
    o, d = camera_rays(100, device, radius=7.0)
    samples = grid.sample(o, d, render_step_size=STEP)
    keep = torch.rand(samples.t_starts.shape, generator=torch.Generator().manual_seed(0)).to(device) < 0.5
    kept = select_samples(samples, keep)
    assert_packed_layout(kept, 100)
    assert torch.equal(kept.t_starts, samples.t_starts[keep]) and torch.equal(kept.t_ends, samples.t_ends[keep])
    assert torch.equal(kept.packed_info[:, 1].cpu(), torch.bincount(samples.ray_indices[keep].cpu(), minlength=100))
    assert_same_samples(select_samples(samples, keep.nonzero()[:, 0]), kept)  # indices select as the mask does
    nothing = select_samples(samples, torch.zeros_like(keep))
    assert_packed_layout(nothing, 100)
    assert nothing.t_starts.numel() == 0 and not nothing.packed_info.any()


def test_bad_input_names_the_argument(device):
    o, d = camera_rays(10, device)
    t = torch.zeros(10, device=device)
    aabb = torch.tensor(AABB, device=device)
    bits = torch.zeros(64, dtype=torch.uint8, device=device)  # 8^3 bits
    call = lambda *args, **kw: ray_marching(*args, **{"render_step_size": STEP, **kw})
    with pytest.raises(ValueError, match="bitfield"):
        call(o, d, t, t, bits[:10], aabb, 1, 8)
    with pytest.raises(TypeError, match="rays_d"):
        call(o, d.double(), t, t, bits, aabb, 1, 8)
    with pytest.raises(ValueError, match="t_max"):
        call(o, d, t, t[:5], bits, aabb, 1, 8)
    with pytest.raises(ValueError, match="levels"):
        call(o, d, t, t, bits, aabb, 0, 8)
    with pytest.raises(ValueError, match="render_step_size"):
        call(o, d, t, t, bits, aabb, 1, 8, render_step_size=0.0)
    with pytest.raises(ValueError, match="cone_angle"):
        call(o, d, t, t, bits, aabb, 1, 8, cone_angle=-1.0)
    with pytest.raises(ValueError, match="aabb"):
        call(o, d, t, t, bits, aabb[:4], 1, 8)
