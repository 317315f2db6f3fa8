import math

import numpy as np
import pytest
import torch

from fields.models import make_field
from fields.render.camera import PinholeCamera, render_camera
from fields.viewer.renderers import (ImageRenderer, RadianceRenderer, RenderInterrupted, SdfRenderer,
                                     make_renderer, strip_cameras)
from fields.render.sphere_tracing import render_sdf_rays

from viewer_helpers import SPHERE_RADIUS, SphereSdf


def look_at_origin(distance: float, size: int, fov: float = 40.0) -> PinholeCamera:
    """A camera on -Y looking at the origin, +Z up (OpenGL axes)."""
    c2w = torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, -distance], [0, 1, 0, 0], [0, 0, 0, 1]])
    return PinholeCamera.from_fov(c2w, size, size, fov)


def test_radiance_frame_shows_the_sphere_on_the_background(red_sphere):
    field, grid = red_sphere
    renderer = RadianceRenderer(field, grid)
    camera = look_at_origin(4.0, 40)
    rgb = renderer.render(camera, "rgb")
    assert rgb.shape == (40, 40, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[20, 20].astype(int) - [230, 26, 26]).max() <= 3  # the sphere's colour at the centre
    assert (rgb[0, 0] == 255).all() and (rgb[-1, -1] == 255).all()  # white background in the corners
    # The sphere covers the disc of angular radius asin(r / d) around the centre, and nothing else.
    ys, xs = np.mgrid[:40, :40] + 0.5
    angle = np.arctan(np.hypot(xs - 20, ys - 20) / camera.fy)
    red = rgb[..., 1] < 128
    assert red[angle < math.asin(SPHERE_RADIUS / 4.0) - 0.02].all()
    assert not red[angle > math.asin(SPHERE_RADIUS / 4.0) + 0.02].any()
    opacity = renderer.render(camera, "opacity")
    assert opacity[20, 20, 0] == 255 and opacity[0, 0, 0] == 0
    depth = renderer.render(camera, "depth")
    assert (depth[0, 0] == 255).all() and not (depth[20, 20] == 255).all()


def test_strips_reassemble_the_whole_frame(red_sphere):
    field, grid = red_sphere
    camera = look_at_origin(3.0, 33)
    strips = list(strip_cameras(camera, strip_rays=33 * 5))
    assert [top for top, _ in strips] == list(range(0, 33, 5)) and strips[-1][1].height == 3
    whole = render_camera(field, grid, camera)["rgb"]
    pieces = torch.cat([render_camera(field, grid, strip)["rgb"] for _, strip in strips])
    assert torch.allclose(whole, pieces, atol=1e-6)


def test_a_stale_frame_is_abandoned_between_strips(red_sphere):
    field, grid = red_sphere
    guarded, asked = [], []

    class Guard:
        def __enter__(self):
            guarded.append(1)

        def __exit__(self, *exc):
            return False

    def should_stop():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(RenderInterrupted):
        RadianceRenderer(field, grid).render(look_at_origin(4.0, 32), guard=Guard, should_stop=should_stop,
                                             strip_rays=32 * 4)
    assert len(guarded) == 2  # two strips ran (each under the guard), the third was never started


def test_sphere_tracing_matches_the_analytic_sphere():
    field = SphereSdf(0.5)
    camera = look_at_origin(2.5, 48)
    origins, directions = camera.rays()
    out = render_sdf_rays(field, origins, directions)
    # Analytic intersection of each ray with the sphere.
    b = (origins * directions).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - 0.25)
    hits = disc > 0
    t_true = -b - disc.clamp_min(0).sqrt()
    solid = disc > 0.01  # away from the silhouette, where tracing converges in a few steps
    assert (out["opacity"][solid] == 1).all() and (out["opacity"][~hits] == 0).all()
    # Tracing stops in front of the surface once the distance is below epsilon (1e-3): along the ray that is
    # at most epsilon / cos(angle to the normal), and cos = sqrt(disc) / radius for a sphere.
    gap = t_true[solid] - out["depth"][solid]
    assert (gap > -1e-4).all() and (gap < 1e-3 * 0.5 / disc[solid].sqrt() + 1e-4).all()
    points = origins[solid] + t_true[solid, None] * directions[solid]
    cosine = (out["normals"][solid] * points / points.norm(dim=-1, keepdim=True)).sum(-1)
    assert cosine.min() > 0.999


def test_sdf_renderer_modes_include_normals():
    renderer = make_renderer(SphereSdf(0.5))
    assert isinstance(renderer, SdfRenderer) and "normals" in renderer.modes
    normals = renderer.render(look_at_origin(2.5, 24), "normals")
    # At the centre the normal points at the camera (-Y): colour (0.5, 0, 0.5) * 255.
    assert np.abs(normals[12, 12].astype(int) - [128, 0, 128]).max() <= 20
    assert (normals[0, 0] == 255).all()
    with pytest.raises(ValueError, match="not available"):
        make_renderer(*(lambda f: (f, None))(SphereSdf())).render(look_at_origin(2.5, 8), "bogus")


def test_image_field_texture_and_renderer_choice(red_sphere):
    field = make_field("image", "mlp", height=12, width=20)
    renderer = make_renderer(field)
    assert isinstance(renderer, ImageRenderer)
    texture = renderer.texture()
    assert texture.shape == (12, 20, 3) and texture.dtype == np.uint8
    assert np.array_equal(texture, (field.render().detach().numpy() * 255).round().astype(np.uint8))
    with pytest.raises(ValueError, match="occupancy grid"):
        make_renderer(red_sphere[0], None)
