"""CAM (coordinate-aware modulation) and 8-bit fake quantisation: identity at init, gradients reach the shift grid,
the grids' own learning rate, quantisation round trip and straight-through gradients, configs that rebuild."""
import pytest
import torch

from fields.models import build_field, make_field
from fields.models.cam import CAM_LR_SCALE, CoordinateModulation, direction_coordinates
from fields.models.quantize import fake_quantize

MLP_TYPES = ["mlp", "ffn", "siren", "finer"]
SMALL = {"mlp": dict(hidden_dim=16, n_layers=2), "ffn": dict(hidden_dim=16, n_layers=2, n_frequencies=8),
         "siren": dict(hidden_dim=16, n_layers=2), "finer": dict(hidden_dim=16, n_layers=2)}
COORDS = {"image": 2, "sdf": 3, "radiance": 3}


def call(field, x):
    if field.signal == "image":
        return field.rgb(x)
    if field.signal == "sdf":
        return field.sdf(x)
    d = torch.nn.functional.normalize(torch.randn(len(x), 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    return torch.cat(field(x, d)[1:] + (field.density(x)[1],), dim=-1)


def with_and_without(signal, field_type, norm):
    """The same field without and with CAM (on the trunk, and for radiance also on the colour head)."""
    torch.manual_seed(0)
    plain = make_field(signal, field_type, **SMALL[field_type])
    options = {"cam": {"norm": norm, "resolution": 4}}
    if signal == "radiance":
        options["color_cam"] = {"norm": norm, "resolution": [4, 3]}
    modulated = make_field(signal, field_type, **SMALL[field_type], **options)
    missing, unexpected = modulated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all("cam" in key for key in missing)
    return plain, modulated


@pytest.mark.parametrize("signal", ["image", "sdf", "radiance"])
@pytest.mark.parametrize("field_type", MLP_TYPES)
def test_cam_without_norm_starts_as_the_identity(signal, field_type):
    plain, modulated = with_and_without(signal, field_type, "none")
    x = torch.rand(32, COORDS[signal]) * 2 - 1
    torch.testing.assert_close(call(modulated, x), call(plain, x))


def test_cam_with_layer_norm_starts_as_plain_normalisation():
    torch.manual_seed(0)
    field = make_field("image", "ffn", **SMALL["ffn"], cam={"norm": "layer"})
    uv = torch.rand(32, 2) * 2 - 1
    backbone = field.backbone
    z = backbone.embed(uv)
    for layer in backbone.hidden:
        z = torch.relu(torch.nn.functional.layer_norm(layer(z), (layer.out_features,)))
    torch.testing.assert_close(field.rgb(uv), backbone.head(z))


def test_image_cam_with_learned_grids_is_gamma_norm_plus_beta_before_the_activation():
    """CAM's formula z = relu(gamma(c) * LayerNorm(h) + beta(c)) with gamma, beta read per layer from the grid by
    torch's own bilinear sampling (align_corners, border): catches swapped gamma/beta channels, swapped layers or
    axes, and a modulation after the activation."""
    torch.manual_seed(0)
    field = make_field("image", "ffn", hidden_dim=16, n_layers=3, n_frequencies=8, cam={"resolution": [5, 4]})
    backbone = field.backbone
    with torch.no_grad():
        backbone.cam.grid.normal_()
    uv = torch.rand(64, 2) * 2.2 - 1.1  # a few outside [-1, 1]: border clamping
    grid = backbone.cam.grid  # [gamma of layers 0..2, beta of layers 0..2, H=4, W=5]
    values = torch.nn.functional.grid_sample(grid[None], uv[None, :, None], mode="bilinear", padding_mode="border",
                                             align_corners=True)[0, :, :, 0].T
    z = backbone.embed(uv)
    for i, layer in enumerate(backbone.hidden):
        h = torch.nn.functional.layer_norm(layer(z), (layer.out_features,))
        z = torch.relu(values[:, i:i + 1] * h + values[:, 3 + i:4 + i])
    torch.testing.assert_close(field.rgb(uv), backbone.head(z))


@pytest.mark.parametrize("coord_dim,resolution", [(1, 5), (2, [6, 4]), (3, 4)])
def test_shift_and_scale_grids_receive_gradient(coord_dim, resolution):
    """The published tri-plane code multiplies zero-initialised shift planes, so they never learn; ours adds them."""
    cam = CoordinateModulation(coord_dim, [0, 1], resolution, norm="none")
    pre = torch.randn(50, 8)
    c = torch.rand(50, coord_dim) * 2 - 1
    gamma, beta = cam.sample(c)
    assert torch.allclose(gamma, torch.ones_like(gamma)) and torch.allclose(beta, torch.zeros_like(beta))
    (cam(0, pre, gamma, beta) * torch.randn(50, 8)).sum().backward()
    grad = cam.grid.grad
    channels = 1 if coord_dim == 3 else 0
    gamma_grad, beta_grad = grad.chunk(2, dim=channels)
    assert gamma_grad.narrow(channels, 0, 1).abs().sum() > 0 and beta_grad.narrow(channels, 0, 1).abs().sum() > 0
    if coord_dim == 3:
        assert (beta_grad[:, 0].flatten(1).abs().sum(dim=1) > 0).all()  # every shift plane learns
    assert gamma_grad.narrow(channels, 1, 1).abs().sum() == 0  # layer 1 was not applied


def test_cam_modulates_samples_differently():
    cam = CoordinateModulation(2, [0], [4, 4], norm="none")
    with torch.no_grad():
        cam.grid[0] = torch.arange(16.0).reshape(4, 4)
    gamma, _ = cam.sample(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert gamma[:, 0].tolist() == [0.0, 15.0]  # align_corners=True: the corners are texel centres


def test_azimuth_wraps():
    cam = CoordinateModulation(2, [0], [4, 3], norm="none", wrap_x=True)
    with torch.no_grad():
        cam.grid.normal_()
    gamma, _ = cam.sample(torch.tensor([[-1.0, 0.3], [1.0, 0.3]]))
    torch.testing.assert_close(gamma[0], gamma[1])
    d = torch.tensor([[-1.0, 1e-7, 0.0], [-1.0, -1e-7, 0.0], [0.0, 0.0, 1.0]])
    coords = direction_coordinates(d)
    assert coords[0, 0] > 0.99 and coords[1, 0] < -0.99 and coords[2, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("signal", ["image", "radiance"])
def test_cam_grids_have_their_own_group_at_ten_times_lr(signal):
    options = {"color_cam": {}, "cam": {}} if signal == "radiance" else {"cam": {}}
    field = make_field(signal, "mlp", **SMALL["mlp"], **options)
    groups = field.param_groups(1e-3)
    cam_groups = [g for g in groups if g.get("name") == "cam"]
    grids = {id(m.grid) for m in field.modules() if isinstance(m, CoordinateModulation)}
    assert len(grids) == (2 if signal == "radiance" else 1)
    assert {id(p) for g in cam_groups for p in g["params"]} == grids
    assert all(g["lr"] == pytest.approx(1e-3 * CAM_LR_SCALE) for g in cam_groups)
    others = [p for g in groups if g.get("name") != "cam" for p in g["params"]]
    assert all(g["lr"] == pytest.approx(1e-3) for g in groups if g.get("name") != "cam")
    assert len(others) + len(grids) == len(list(field.parameters()))


def test_fake_quantize_round_trip_and_straight_through_gradient():
    torch.manual_seed(0)
    w = torch.randn(1000, requires_grad=True)
    q = fake_quantize(w, 8)
    lo, hi = w.min().item(), w.max().item()
    step = (hi - lo) / 255
    assert len(torch.unique(q.detach())) <= 256
    assert (q - w).abs().max().item() <= step / 2 + 1e-6
    assert q.min().item() == pytest.approx(lo) and q.max().item() == pytest.approx(hi)
    torch.testing.assert_close(fake_quantize(q.detach(), 8), q.detach())  # quantised values are fixed points
    upstream = torch.randn(1000)
    (q * upstream).sum().backward()
    torch.testing.assert_close(w.grad, upstream)


def test_quantised_field_is_smaller_and_still_learns():
    torch.manual_seed(0)
    full = make_field("image", "ffn", **SMALL["ffn"], cam={})
    quantised = make_field("image", "ffn", **SMALL["ffn"], cam={}, quantize_bits=8)
    quantised.load_state_dict(full.state_dict())
    params = sum(p.numel() for p in full.parameters())
    buffers = sum(b.numel() * 4 for b in full.buffers())
    n_tensors = len(list(full.parameters()))
    assert full.size_mb() == pytest.approx((params * 4 + buffers) / 1e6)
    assert quantised.size_mb() == pytest.approx((params + 8 * n_tensors + buffers) / 1e6)
    uv = torch.rand(64, 2) * 2 - 1
    out = quantised.rgb(uv)
    assert not torch.allclose(out, full.rgb(uv))  # the forward pass sees the rounded weights
    out.sum().backward()
    assert all(p.grad is not None for p in quantised.parameters())


def test_radiance_quantisation_covers_the_colour_head():
    field = make_field("radiance", "mlp", **SMALL["mlp"], quantize_bits=8, color_quantize_bits=8, color_cam={})
    assert field.size_mb() < 0.3 * make_field("radiance", "mlp", **SMALL["mlp"], color_cam={}).size_mb()


@pytest.mark.parametrize("signal", ["image", "sdf", "radiance"])
def test_cam_config_round_trip(signal):
    torch.manual_seed(0)
    options = {"cam": {"resolution": 5, "layers": [1], "norm": "layer"}, "quantize_bits": 8}
    if signal == "image":
        options["cam"]["resolution"] = [6, 5]
    if signal == "radiance":
        options |= {"color_cam": {"resolution": [8, 3]}, "color_quantize_bits": 8}
    field = make_field(signal, "siren", **SMALL["siren"], **options)
    with torch.no_grad():
        for m in field.modules():
            if isinstance(m, CoordinateModulation):
                m.grid.normal_()
    rebuilt = build_field(field.config)
    rebuilt.load_state_dict(field.state_dict())
    assert rebuilt.config == field.config
    x = torch.rand(16, COORDS[signal]) * 2 - 1
    torch.testing.assert_close(call(rebuilt, x), call(field, x))


def test_plain_configs_do_not_mention_cam():
    assert "cam" not in make_field("image", "ffn").config["backbone"]
    assert "color_cam" not in make_field("radiance", "hash").config


@pytest.mark.parametrize("bad,match", [({"resolution": 1}, "resolution"), ({"norm": "batch"}, "norm"),
                                       ({"layers": [7]}, "layers"), ({"grid": 3}, "no option")])
def test_bad_cam_options_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        make_field("image", "mlp", **SMALL["mlp"], cam=bad)


def test_cam_needs_a_modulation_coordinate():
    field = make_field("image", "mlp", **SMALL["mlp"], cam={})
    with pytest.raises(ValueError, match="modulation coordinate"):
        field.backbone(torch.zeros(3, 2))
