"""The triplane field reads its planes exactly as the core's tri-plane sampler specifies (xy, xz, yz; first
coordinate along the width; align_corners=False), for 3-D and 2-D fields."""
import pytest
import torch

from fields.models import make_field
from fields.ops.grid_sample import grid_sample_2d_reference, triplane_sample_reference


@pytest.mark.parametrize("reduce", ["sum", "concat"])
def test_plane_features_follow_the_sampler_specification(reduce):
    torch.manual_seed(0)
    field = make_field("sdf", "triplane", resolution=8, plane_channels=3, reduce=reduce, init_std=1.0)
    coords = torch.rand(50, 3) * 2 - 1
    expected = triplane_sample_reference(field.backbone.planes.detach(), coords, align_corners=False, reduce=reduce)
    torch.testing.assert_close(field.backbone.plane_features(coords), expected)
    assert expected.shape == (50, 9 if reduce == "concat" else 3)


def test_planes_are_indexed_by_the_projected_coordinates():
    """A feature written into one texel of the xz plane is seen by points with that (x, z) whatever their y."""
    field = make_field("sdf", "triplane", resolution=4, plane_channels=1, init_std=0.0)
    with torch.no_grad():
        field.backbone.planes[1, 0, 3, 0] = 1.0  # plane xz: row (H) = z index 3, column (W) = x index 0
    x, z = -0.75, 0.75  # texel centres with align_corners=False at resolution 4
    points = torch.tensor([[x, y, z] for y in (-0.9, 0.0, 0.6)])
    torch.testing.assert_close(field.backbone.plane_features(points)[:, 0], torch.ones(3))
    other = torch.tensor([[z, 0.0, x]])  # swapping x and z reads another texel
    assert field.backbone.plane_features(other)[0, 0].item() == 0.0


def test_image_field_uses_one_plane():
    field = make_field("image", "triplane", resolution=8, plane_channels=2, init_std=1.0)
    assert field.backbone.planes.shape == (1, 2, 8, 8)
    uv = torch.rand(20, 2) * 2 - 1
    expected = grid_sample_2d_reference(field.backbone.planes.detach()[0], uv, align_corners=False)
    torch.testing.assert_close(field.backbone.plane_features(uv), expected)


def test_planes_get_their_own_learning_rate_and_gradients():
    field = make_field("radiance", "triplane", resolution=8, plane_channels=4, plane_lr_scale=5.0)
    groups = field.param_groups(1e-3)
    assert groups[0]["params"] == [field.backbone.planes] and groups[0]["lr"] == pytest.approx(5e-3)
    sigma, h = field.density(torch.rand(32, 3) - 0.5)
    h.sum().backward()
    assert field.backbone.planes.grad.abs().sum() > 0


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="reduce must be one of"):
        make_field("sdf", "triplane", reduce="max")
    with pytest.raises(ValueError, match="decoder must be one of"):
        make_field("sdf", "triplane", decoder="kan")
