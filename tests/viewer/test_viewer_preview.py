"""The baked preview of radiance fields: the moving frames' fast path."""
import contextlib
import time

import pytest
import torch

from fields.ops import pack_bitfield
from fields.render import OccupancyGrid
from fields.render.camera import PinholeCamera, render_camera
from fields.viewer import TrainingLink, Viewer, ViewerError
from fields.viewer.preview_bake import bake_radiance, training_view_directions
from fields.viewer.render_loop import ClientRenderLoop, ResolutionControl
from fields.viewer.renderers import RadianceRenderer

from viewer_helpers import AnalyticRadianceField, ViserProtocolClient, wait_for

CLOUD_RADIUS = 0.8


class CloudField(AnalyticRadianceField):
    """A soft ball (density falling smoothly to 0 at CLOUD_RADIUS) whose colour varies differently along x, y and z
    (a bake with its axes mixed up would show it). The colour is view-independent, so a bake's only errors are
    interpolation and the coarser ray step."""

    def __init__(self):
        super().__init__(1.0)
        self.points_evaluated = []  # world points given to density() (the bake's cost)
        self.color_calls = 0  # calls of color(): the bake's are in prepare(), so in render() it is the field itself

    def density(self, x):
        self.points_evaluated.append(x)
        falloff = (1.0 - (x.norm(dim=-1) / CLOUD_RADIUS) ** 2).clamp_min(0.0)
        return 12.0 * falloff ** 2, x  # the geometry features are the point itself

    def color(self, h, d):
        self.color_calls += 1
        return torch.stack([0.5 + 0.4 * torch.sin(3.0 * h[:, 0]), 0.5 + 0.4 * torch.cos(2.0 * h[:, 1]),
                            0.5 + 0.4 * h[:, 2]], dim=-1)


def cloud_grid(field) -> OccupancyGrid:
    grid = OccupancyGrid(field.aabb.tolist(), resolution=32)
    margin = 3.0 ** 0.5 * 2.0 / 32  # a cell diagonal: cells the cloud touches count as occupied
    grid.update(0, lambda x: (x.norm(dim=-1) < CLOUD_RADIUS + margin).float())
    return grid


def camera_from(direction, size: int = 48, distance: float = 3.0) -> PinholeCamera:
    """A camera ``distance`` from the origin along ``direction``, looking at it."""
    back = torch.tensor(direction, dtype=torch.float32)
    back = back / back.norm()
    up = torch.tensor([0.0, 0.0, 1.0]) if abs(float(back[2])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    right = torch.linalg.cross(up, back)
    right = right / right.norm()
    c2w = torch.eye(4)
    c2w[:3, :3] = torch.stack([right, torch.linalg.cross(back, right), back], dim=1)
    c2w[:3, 3] = back * distance
    return PinholeCamera.from_fov(c2w, size, size, 40.0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10.0 * torch.log10(((a - b) ** 2).mean()))


def test_the_bake_holds_the_field_at_its_vertices_in_grid_sample_order():
    field = CloudField()
    baked = bake_radiance(field, cloud_grid(field), 16)
    axis = torch.linspace(-1.0, 1.0, 16)
    for i, j, k in [(8, 7, 6), (5, 9, 8), (7, 7, 10)]:  # (x, y, z) vertex indices inside the cloud
        point = torch.stack([axis[i], axis[j], axis[k]])[None]
        sigma, h = field.density(point)
        assert float(sigma) > 0.5
        expected = torch.cat([sigma, field.color(h, torch.zeros(1, 3))[0]])
        assert torch.allclose(baked.values[k, j, i], expected, atol=1e-5)


def test_baked_render_matches_the_field_from_every_side():
    """A 64³ bake of the cloud over [-1, 1]³ (vertex spacing 0.032, ray step one spacing instead of 0.005). Its
    only errors, trilinear interpolation of a smooth field and the coarser step, measured about 60 dB; the same
    bake read with two axes swapped gives 18-25 dB. 35 dB passes any faithful bake with a wide margin (float
    noise, other step rounding) and fails a wrong one."""
    field = CloudField()
    grid = cloud_grid(field)
    baked = bake_radiance(field, grid, 64)
    for direction in [(0.0, -1.0, 0.3), (1.0, 0.4, -0.5), (-0.2, 0.3, 1.0)]:
        camera = camera_from(direction)
        direct = render_camera(field, grid, camera, render_step_size=5e-3)
        preview = baked.render(camera)
        assert psnr(preview["rgb"], direct["rgb"]) > 35.0
        assert (preview["opacity"] - direct["opacity"]).abs().max() < 0.05


def test_vertices_around_an_occupied_cell_are_evaluated_and_no_others():
    """A lookup in an occupied cell blends the bake vertices around it, some of them in empty cells."""
    field = CloudField()
    grid = OccupancyGrid(field.aabb.tolist(), resolution=8)  # cells 0.25 wide
    grid.binary[0, 4, 4, 4] = True  # the cell [0, 0.25]³
    baked = bake_radiance(field, grid, 17)  # vertices every 0.125: -1, ..., 0, 0.125, 0.25, ...
    evaluated = torch.cat(field.points_evaluated)
    index = ((evaluated + 1.0) / 0.125).round().long()
    kept = {tuple(v) for v in index.tolist()}
    needed = {(i, j, k) for i in (8, 9, 10) for j in (8, 9, 10) for k in (8, 9, 10)}  # the cell's corners: 0..0.25
    assert needed <= kept
    assert len(kept) == baked.evaluated <= 6 ** 3  # no further than one cell around it
    assert int(index.min()) >= 6 and int(index.max()) <= 11


def test_the_preview_samples_only_where_the_occupancy_grid_lets_the_field_render():
    """With only the cells of x > 0 occupied, the field's render shows half the cloud; so must the preview (it
    marches through the same cells). Seen from +z, the image's left half (x < 0) is empty."""
    field = CloudField()
    grid = cloud_grid(field)
    grid.binary[0, : grid.resolution // 2] = False  # binary is indexed [level, x, y, z]
    grid.bitfield.copy_(pack_bitfield(grid.binary.view(-1)))  # what the field's ray marching reads
    baked = bake_radiance(field, grid, 64)
    camera = camera_from((0.0, 0.0, 1.0))
    preview = baked.render(camera)
    direct = render_camera(field, grid, camera, render_step_size=5e-3)
    assert psnr(preview["rgb"], direct["rgb"]) > 35.0
    half = camera.width // 2
    assert float(preview["opacity"][:, : half - 1].max()) == 0.0 and float(preview["opacity"][:, half + 1 :].max()) > 0.9


def test_a_grid_over_another_box_is_refused():
    field = CloudField()
    with pytest.raises(ValueError, match="box"):
        bake_radiance(field, OccupancyGrid([-2.0] * 3 + [2.0] * 3, resolution=8), 16)


def test_empty_cells_are_skipped():
    field = CloudField()
    grid = cloud_grid(field)
    baked = bake_radiance(field, grid, 48)
    evaluated = torch.cat(field.points_evaluated).norm(dim=-1)
    assert evaluated.shape[0] == baked.evaluated < 0.7 * 48 ** 3  # the box's corners are empty
    # Occupied cells reach CLOUD_RADIUS + 2 cell diagonals; the vertices around them one cell further.
    cell = 2.0 / 32
    assert float(evaluated.max()) < CLOUD_RADIUS + 3 * 3 ** 0.5 * cell
    inside = (torch.linspace(-1, 1, 48).abs() < CLOUD_RADIUS).sum() ** 3  # a lower bound: the inscribed cube
    assert baked.evaluated > 0.5 * int(inside)
    assert (baked.values[0, 0, 0] == 0).all() and (baked.values[-1, -1, 24] == 0).all()
    grid.binary.zero_()  # nothing occupied: nothing to evaluate
    assert bake_radiance(field, grid, 48).evaluated == 0


def test_a_training_lock_is_taken_per_chunk():
    field = CloudField()
    entered = []

    @contextlib.contextmanager
    def guard():
        entered.append(1)
        yield

    baked = bake_radiance(field, cloud_grid(field), 32, guard=guard, chunk=1000)
    assert len(entered) == 1 + -(-baked.evaluated // 1000)  # the occupancy lookup, then one per chunk


def test_preview_directions_come_from_the_training_cameras():
    cameras = torch.stack([camera_from(d).c2w for d in [(0.0, -1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]])
    directions = training_view_directions(cameras, count=8)
    assert torch.allclose(directions, torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]),
                          atol=1e-6)


def test_the_bake_is_rebuilt_when_the_field_version_changes_at_most_every_few_seconds():
    field = CloudField()
    renderer = RadianceRenderer(field, cloud_grid(field), preview_resolution=24, rebake_seconds=0.0)
    assert renderer.prepare(False) == "field" and renderer.preview is None  # resting frames need no bake
    assert renderer.prepare(True, version=0) == "preview"
    first = renderer.preview
    renderer.prepare(True, version=0)
    assert renderer.preview is first  # the field did not change
    time.sleep(4 * first.seconds + 0.01)  # re-bakes are at least four bakes' time apart
    renderer.prepare(True, version=1)
    assert renderer.preview is not first and renderer.preview.version == 1
    renderer.rebake_seconds = 3600.0  # a training field changes every step: not re-baked every time
    renderer.prepare(True, version=2)
    assert renderer.preview.version == 1


class Browser:
    """A stand-in browser for a render loop: a fixed camera, and the frames it got."""

    def __init__(self):
        self.frames = []

    def camera(self, width, height):
        return camera_from((0.0, -1.0, 0.3), size=width)

    def send(self, image, moving):
        self.frames.append((moving, image.shape))


def run_loop(renderer, field, frames: int = 2):
    """Runs a render loop wired as the viewer wires it, through one move and the rest after it; returns
    (moving, path, colour queries of the field during the render) per frame."""
    browser, rendered = Browser(), []

    def render(camera, should_stop, path):
        calls = field.color_calls
        image = renderer.render(camera, "rgb", should_stop=should_stop, path=path)
        rendered.append((path, field.color_calls - calls))
        return image

    loop = ClientRenderLoop(camera=browser.camera, aspect=lambda: 1.0, render=render, send=browser.send,
                            prepare=lambda moving: renderer.prepare(moving), max_resolution=lambda: 32,
                            resolution=ResolutionControl(rays_per_second=10_000.0))
    loop.start()
    try:
        loop.request_render()
        assert wait_for(lambda: len(browser.frames) >= frames, 20.0)
    finally:
        loop.stop()
        loop.join(5.0)
    return [(moving, path, calls) for (moving, _), (path, calls) in zip(browser.frames, rendered)]


def test_the_render_loop_uses_the_bake_while_moving_and_the_field_at_rest():
    field = CloudField()
    renderer = RadianceRenderer(field, cloud_grid(field), preview_resolution=24)
    (moving, path, calls), (resting, rest_path, rest_calls) = run_loop(renderer, field)[:2]
    assert moving and path == "preview" and calls == 0  # not one query of the field itself
    assert not resting and rest_path == "field" and rest_calls > 0


def test_switching_the_preview_off_renders_moving_frames_from_the_field():
    field = CloudField()
    renderer = RadianceRenderer(field, cloud_grid(field), preview_resolution=24)
    renderer.fast_preview = False
    (moving, path, calls), _ = run_loop(renderer, field)[:2]
    assert moving and path == "field" and calls > 0
    assert renderer.preview is None  # nothing baked


def test_the_viewer_bakes_on_load_and_its_toggle_switches_the_preview(free_port, tmp_path):
    field = CloudField()
    viewer = Viewer(field, cloud_grid(field), port=free_port, max_resolution=32, output_dir=tmp_path,
                    verbose=False)
    try:
        assert viewer.renderer.preview is not None and viewer.renderer.preview.version == 0
        speeds = viewer.resolution
        assert speeds.rays_per_second("preview") != speeds.rays_per_second("field")  # both measured
        client = ViserProtocolClient(viewer.server.get_port())
        try:
            client.send_camera(camera_from((0.0, -1.0, 0.3)).c2w.numpy(), width=64, height=64)
            assert wait_for(lambda: any(fmt == "png" for fmt, _ in client.frames), 20.0)  # the opening frame
            moved = camera_from((0.0, -1.0, 0.3), distance=3.1)
            client.send_camera(moved.c2w.numpy(), width=64, height=64)
            assert wait_for(lambda: any(fmt == "jpeg" for fmt, _ in client.frames), 20.0)
            moving = next(image for fmt, image in client.frames if fmt == "jpeg")
            assert (moving[0, 0] > 240).all() and moving[moving.shape[0] // 2, moving.shape[1] // 2].min() < 200
            viewer.gui.fast_preview.value = False
            assert viewer.renderer.prepare(True) == "field"
            viewer.gui.fast_preview.value = True
            assert viewer.renderer.prepare(True) == "preview"
        finally:
            client.close()
    finally:
        viewer.close()


def test_a_training_viewer_rebakes_as_the_training_step_advances(free_port, tmp_path):
    field, link = CloudField(), TrainingLink()
    viewer = Viewer(field, cloud_grid(field), training=link, port=free_port, max_resolution=32,
                    output_dir=tmp_path, preview_resolution=24, verbose=False)
    viewer.renderer.rebake_seconds = 0.0
    client = ViserProtocolClient(viewer.server.get_port())
    try:
        assert viewer.renderer.preview.version == 0  # baked on start
        link.step = 7  # the trainer took steps
        time.sleep(4 * viewer.renderer.preview.seconds + 0.01)
        client.send_camera(camera_from((0.0, -1.0, 0.3)).c2w.numpy(), width=64, height=64)  # connects
        client.send_camera(camera_from((0.2, -1.0, 0.3)).c2w.numpy(), width=64, height=64)  # moves
        assert wait_for(lambda: viewer.renderer.preview.version == 7, 20.0)  # the next moving frame re-baked
    finally:
        client.close()
        viewer.close()


@pytest.mark.parametrize("resolution", [1, 0])
def test_a_bake_needs_two_vertices_per_axis(resolution, free_port, tmp_path):
    field = CloudField()
    with pytest.raises(ValueError, match="at least 2"):
        bake_radiance(field, cloud_grid(field), resolution)
    with pytest.raises(ViewerError, match="--preview-resolution"):
        Viewer(field, cloud_grid(field), port=free_port, output_dir=tmp_path, preview_resolution=resolution,
               verbose=False)
