import pytest
import torch

from fields.ops import occupancy_ema_update_, occupancy_ema_update_reference, pack_bitfield, pack_bitfield_reference
from fields.ops.occupancy_grid import grid_level_aabbs
from fields.render import OccupancyGrid

AABB = [-1.5, -1.0, -0.5, 1.5, 1.0, 0.5]


def test_ema_update_matches_reference(device):
    g = torch.Generator().manual_seed(0)
    occupancy = torch.rand(5000, generator=g)
    occupancy[::13] = -1.0  # masked-out cells
    indices = torch.randint(5000, (3000,), generator=g)  # with repeats
    values = torch.rand(3000, generator=g) * 1.5 - 0.25
    expected = occupancy_ema_update_reference(occupancy, indices, values, 0.9)
    grid = occupancy.to(device)
    out = occupancy_ema_update_(grid, indices.to(device), values.to(device), 0.9)
    assert out.data_ptr() == grid.data_ptr()  # in place
    assert torch.equal(grid.cpu(), expected)


def test_ema_update_semantics(device):
    occupancy = torch.tensor([0.5, 0.5, 0.5, -1.0, 0.0], device=device)
    indices = torch.tensor([0, 1, 1, 3, 4], device=device)
    values = torch.tensor([0.1, 0.2, 0.7, 5.0, 0.3], device=device)
    occupancy_ema_update_(occupancy, indices, values, 0.5)
    # cell 0: decays and keeps max(0.25, 0.1); cell 1: the larger repeated value wins; cell 2: never evaluated, decays;
    # cell 3: masked out, untouched; cell 4: takes the evaluation
    assert torch.equal(occupancy.cpu(), torch.tensor([0.25, 0.7, 0.25, -1.0, 0.3]))


@pytest.mark.parametrize("count", [0, 1, 8, 13, 4099])
def test_pack_bitfield_matches_reference(device, count):
    binary = torch.rand(count, generator=torch.Generator().manual_seed(count)) < 0.4
    out = pack_bitfield(binary.to(device))
    assert out.dtype == torch.uint8 and out.shape == ((count + 7) // 8,)
    assert torch.equal(out.cpu(), pack_bitfield_reference(binary))
    bits = (out.cpu().long()[:, None] >> torch.arange(8)) & 1
    assert torch.equal(bits.flatten()[:count].bool(), binary)


def test_bad_input_names_the_argument(device):
    occ = torch.zeros(10, device=device)
    idx, val = torch.tensor([1, 2], device=device), torch.ones(2, device=device)
    with pytest.raises(TypeError, match="values"):
        occupancy_ema_update_(occ, idx, val.double(), 0.9)
    with pytest.raises(TypeError, match="indices"):
        occupancy_ema_update_(occ, idx.int(), val, 0.9)
    with pytest.raises(ValueError, match="indices"):
        occupancy_ema_update_(occ, torch.tensor([1, 10], device=device), val, 0.9)
    with pytest.raises(ValueError, match="values"):
        occupancy_ema_update_(occ, idx, torch.ones(3, device=device), 0.9)
    with pytest.raises(ValueError, match="decay"):
        occupancy_ema_update_(occ, idx, val, 1.5)
    with pytest.raises(TypeError, match="binary"):
        pack_bitfield(torch.zeros(16, device=device))


def cells_of(grid, points, level):
    box = grid.level_aabbs()[level].to(points.device)
    u = (points - box[:3]) / (box[3:] - box[:3]) * grid.resolution
    assert bool(((u >= 0) & (u <= grid.resolution)).all())
    ijk = u.floor().long().clamp(0, grid.resolution - 1)
    return (ijk[:, 0] * grid.resolution + ijk[:, 1]) * grid.resolution + ijk[:, 2]


class Recorder:
    """occ_eval_fn that records its points and returns a fixed value (or a function of the point)."""

    def __init__(self, fn=lambda x: torch.full(x.shape[:1], 0.5, device=x.device)):
        self.fn, self.calls = fn, []

    def __call__(self, x):
        self.calls.append(x.clone())
        return self.fn(x)

    @property
    def points(self):
        return torch.cat(self.calls)


def test_warmup_evaluates_every_cell_once_per_level_in_chunks(device):
    grid = OccupancyGrid(AABB, resolution=8, levels=2).to(device)
    fn = Recorder()
    grid.update(0, fn, chunk_size=300)
    cells = grid.cells_per_level
    assert len(fn.calls) == -(-2 * cells // 300) and max(c.shape[0] for c in fn.calls) <= 300
    points = fn.points
    for level in range(2):
        level_points = points[level * cells : (level + 1) * cells]
        assert torch.equal(cells_of(grid, level_points, level).sort().values, torch.arange(cells, device=device))
    assert bool((grid.occupancy == 0.5).all()) and grid.occupied_fraction() == 1.0


def test_update_runs_only_every_update_every_steps(device):
    grid = OccupancyGrid(AABB, resolution=4).to(device)
    fn = Recorder()
    for step in range(1, 16):
        grid.update(step, fn)
    assert fn.calls == []
    grid.update(32, fn)
    assert len(fn.calls) == 1


def test_after_warmup_a_quarter_plus_occupied_cells_and_ema_max(device):
    grid = OccupancyGrid(AABB, resolution=8).to(device)
    centre_cell = lambda x: (x.abs() < torch.tensor([0.375, 0.25, 0.125], device=x.device)).all(-1)  # 2x2x2 cells
    grid.update(0, Recorder(lambda x: torch.where(centre_cell(x), 1.0, 0.0)), warmup_steps=16)
    assert grid.binary.sum() == 8  # threshold min(mean = 8/512, 0.01) = 0.01
    assert grid.binary[0, 3:5, 3:5, 3:5].all()
    fn = Recorder(lambda x: torch.zeros(x.shape[0], device=x.device))
    generator = torch.Generator(device=device).manual_seed(0)
    grid.update(16, fn, warmup_steps=16, ema_decay=0.5, generator=generator)
    evaluated = cells_of(grid, fn.points, 0)
    assert evaluated.shape[0] == 512 // 4 + 8
    # drawn with replacement from the whole grid: 128 draws over 512 cells give ~113 distinct ones on average
    assert evaluated[: 512 // 4].unique().shape[0] > 96
    assert torch.equal(evaluated[512 // 4 :].sort().values, grid.binary[0].view(-1).nonzero()[:, 0])
    # EMA-max: evaluated zeros do not lower the decayed value; all cells decay whether evaluated or not
    expected = torch.zeros(8, 8, 8, device=device)
    expected[3:5, 3:5, 3:5] = 0.5
    assert torch.equal(grid.occupancy.view(8, 8, 8), expected)
    for step in range(32, 32 + 16 * 8, 16):
        grid.update(step, fn, warmup_steps=16, ema_decay=0.5)
    # the 8 cells keep halving but stay above the threshold min(mean, 0.01) = mean = value / 64
    assert grid.binary.sum() == 8
    grid.update(16 * 20, fn, warmup_steps=16, ema_decay=0.0)
    assert grid.binary.sum() == 0


def test_threshold_is_min_of_mean_and_occ_threshold(device):
    grid = OccupancyGrid(AABB, resolution=4).to(device)
    values = torch.linspace(0.0, 0.02, 64)
    grid.update(0, lambda x: values.to(x.device))
    assert torch.equal(grid.binary.view(-1).cpu(), values > 0.01)  # mean 0.01 = threshold
    grid.update(0, lambda x: values.to(x.device) * 0.1, ema_decay=0.0)
    assert torch.equal(grid.binary.view(-1).cpu(), values * 0.1 > (values * 0.1).mean())  # mean below threshold


def test_masked_cells_are_ignored(device):
    grid = OccupancyGrid(AABB, resolution=4).to(device)
    grid.occupancy.view(-1)[:32] = -1.0
    grid.update(0, lambda x: torch.ones(x.shape[0], device=x.device))
    assert bool((grid.occupancy.view(-1)[:32] == -1).all()) and bool((grid.occupancy.view(-1)[32:] == 1).all())
    assert grid.occupied_fraction() == 0.5


def test_cascade_levels_cover_scaled_boxes(device):
    grid = OccupancyGrid(AABB, resolution=4, levels=3)
    boxes = grid.level_aabbs()
    assert boxes[0].tolist() == AABB
    assert boxes[2].tolist() == [-6.0, -4.0, -2.0, 6.0, 4.0, 2.0]
    fn = Recorder()
    grid.update(0, fn)
    level2 = fn.points[2 * 64 :]
    assert bool((level2.abs().amax(0) > torch.tensor([4.5, 3.0, 1.5])).all())  # reaches the outer cells


def test_mark_all_occupied_and_state_dict_round_trip(device):
    grid = OccupancyGrid(AABB, resolution=6, levels=2).to(device)
    grid.mark_all_occupied()
    assert grid.occupied_fraction() == 1.0
    assert torch.equal(grid.bitfield, pack_bitfield_reference(grid.binary.view(-1)))
    grid.update(0, lambda x: (x[:, 0] > 0).float())
    state = grid.state_dict()
    assert set(state) == {"aabb", "occupancy", "binary", "bitfield"}
    loaded = OccupancyGrid([0, 0, 0, 1, 1, 1], resolution=6, levels=2)
    loaded.load_state_dict({k: v.cpu() for k, v in state.items()})
    for name, value in state.items():
        assert torch.equal(getattr(loaded, name), value.cpu())
    assert 0.3 < loaded.occupied_fraction() < 0.7


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match="aabb"):
        OccupancyGrid([0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="resolution"):
        OccupancyGrid(AABB, resolution=0)
    with pytest.raises(ValueError, match="occ_eval_fn"):
        OccupancyGrid(AABB, resolution=2).update(0, lambda x: torch.zeros(3))
