"""The field contract: every field type builds for every signal, answers its calls with the right shapes, and
rebuilds identically from its config."""
import pytest
import torch

from fields.models import build_field, field_types, make_field

SMALL = {"hash": dict(n_levels=4, log2_hashmap_size=10, finest_resolution=64),
         "mlp": dict(hidden_dim=32, n_layers=2), "ffn": dict(hidden_dim=32, n_layers=2, n_frequencies=16),
         "siren": dict(hidden_dim=32, n_layers=2), "finer": dict(hidden_dim=32, n_layers=2),
         "rbf": dict(n_levels=4, log2_hashmap_size=10, finest_resolution=64, n_kernels=8),
         "triplane": dict(resolution=16, plane_channels=4, hidden_dim=16, n_frequencies=2)}


def small_options(field_type):
    return SMALL.get(field_type, {})


@pytest.mark.parametrize("field_type", field_types())
def test_radiance_contract(field_type):
    torch.manual_seed(0)
    field = make_field("radiance", field_type, **small_options(field_type))
    x = torch.rand(64, 3) * 3.0 - 1.5
    d = torch.nn.functional.normalize(torch.randn(64, 3), dim=-1)
    sigma, h = field.density(x)
    rgb = field.color(h, d)
    assert sigma.shape == (64,) and h.shape == (64, 16) and rgb.shape == (64, 3)
    assert (sigma >= 0).all() and ((rgb >= 0) & (rgb <= 1)).all()
    outside = torch.tensor([[2.0, 0.0, 0.0]])
    assert field.density(outside)[0].item() == 0.0
    (sigma.sum() + rgb.sum()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in field.backbone.parameters())


@pytest.mark.parametrize("signal", ["sdf", "image"])
@pytest.mark.parametrize("field_type", field_types())
def test_sdf_and_image_contract(signal, field_type):
    field = make_field(signal, field_type, **small_options(field_type))
    if signal == "sdf":
        assert field.sdf(torch.rand(10, 3) * 2 - 1).shape == (10,)
    else:
        assert field.rgb(torch.rand(10, 2) * 2 - 1).shape == (10, 3)


@pytest.mark.parametrize("signal", ["radiance", "sdf", "image"])
@pytest.mark.parametrize("field_type", field_types())
def test_config_round_trip(signal, field_type):
    field = make_field(signal, field_type, **small_options(field_type))
    rebuilt = build_field(field.config)
    rebuilt.load_state_dict(field.state_dict())
    assert rebuilt.config == field.config
    x = torch.rand(8, 3 if signal != "image" else 2) * 2 - 1
    call = {"radiance": lambda f: f.density(x)[1], "sdf": lambda f: f.sdf(x), "image": lambda f: f.rgb(x)}[signal]
    torch.testing.assert_close(call(rebuilt), call(field))


def test_unknown_type_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="known types"):
        make_field("radiance", "nope")
    with pytest.raises(ValueError, match="has no option"):
        make_field("sdf", "hash", not_an_option=3)
