"""FreSh selection: untrained fields' spectra move with their embedding hyperparameter, and the selection finds the
value that produced a target."""
import numpy as np
import pytest
import torch

from fields.init import FAMILIES, select, select_for_image, select_for_views, select_for_volume, spectrum
from fields.init import spectrum_distance, training_views
from fields.models import make_field

SMALL = {"hidden_dim": 64}


def initial_output(field_type: str, side: int, seed: int = 0, **options) -> torch.Tensor:
    torch.manual_seed(seed)
    field = make_field("image", field_type, height=side, width=side, **options)
    with torch.no_grad():
        return field.rgb(field.pixel_coordinates()).T.reshape(3, side, side)


def high_frequency_share(signal: torch.Tensor, crop: int = 64) -> float:
    s = spectrum(signal)[:crop]
    return float(s[crop // 4:].sum() / s.sum())


@pytest.mark.parametrize("field_type,option,low,high", [
    ("siren", "first_omega", 10.0, 100.0),
    ("ffn", "sigma", 2.0, 15.0),
    ("finer", "bias_scale", 0.0, 3.0),
    ("hash", "finest_resolution", 32, 512),
])
def test_larger_embedding_value_gives_more_high_frequency_energy(field_type, option, low, high):
    options = {} if field_type == "hash" else SMALL
    options |= FAMILIES[field_type].fixed
    shares = [np.mean([high_frequency_share(initial_output(field_type, 64, seed, **options, **{option: v}))
                       for seed in range(3)]) for v in (low, high)]
    assert shares[1] > shares[0] + 0.05


def test_selection_recovers_the_omega_that_made_the_target():
    target_omega, candidates = 60.0, [float(w) for w in range(10, 131, 10)]
    target = initial_output("siren", 64, seed=123, first_omega=target_omega, **SMALL)
    result = select_for_image("siren", target.permute(1, 2, 0), SMALL, candidates, seeds=3)
    assert abs(result.value - target_omega) <= 10.0
    assert result.distances[result.value] == min(result.distances.values())
    assert result.options() == {"first_omega": result.value}
    assert "chosen" in result.table() and result.to_json()["value"] == result.value


def test_selection_passes_other_options_and_refuses_the_selected_one():
    seen = []

    def output(trial, seed):
        seen.append(trial)
        return torch.rand(1, 16, 16)

    result = select("hash", output, [spectrum(torch.rand(1, 16, 16))], [64, 128], seeds=2,
                    options={"n_levels": 4})
    assert all(t["n_levels"] == 4 and t["table_init_scale"] == FAMILIES["hash"].fixed["table_init_scale"]
               for t in seen)
    assert len(seen) == 4 and result.value in (64, 128)
    with pytest.raises(ValueError, match="drop it"):
        select("siren", output, [spectrum(torch.rand(1, 16, 16))], options={"first_omega": 30})
    with pytest.raises(ValueError, match="no FreSh family"):
        select("mlp", output, [spectrum(torch.rand(1, 16, 16))])


def test_selection_for_a_volume():
    target = torch.randn(1, 16, 16, 16)
    result = select_for_volume("hash", target, {"n_levels": 4, "log2_hashmap_size": 12}, [16, 64], seeds=1)
    assert result.value in (16, 64) and result.crop == FAMILIES["hash"].crop


def test_selection_for_rendered_views(procedural_scene):
    from fields.datasets import load_scene

    scene = load_scene(procedural_scene, "train")
    cameras, images = training_views(scene, 2, 16)
    assert images[0].shape == (16, 16, 3) and cameras[0].width == 16
    result = select_for_views("hash", cameras, images, scene.aabb.tolist(),
                              {"n_levels": 4, "log2_hashmap_size": 12}, [32, 128], seeds=2, render_step_size=0.05)
    assert result.crop == FAMILIES["hash"].crop // 2 and result.value in (32, 128)
    assert all(np.isfinite(d) for d in result.distances.values())


@pytest.mark.parametrize("field_type", ["siren", "ffn"])
def test_cam_wrapped_variant_is_the_same_family(field_type):
    """A CAM-modulated backbone is selected like its plain family: the cam option reaches every candidate model."""
    image = torch.rand(32, 32, 3)
    options = {**SMALL, "cam": {"resolution": 8}}
    family = FAMILIES[field_type]
    result = select_for_image(field_type, image, options, family.candidates[:3], seeds=1)
    assert result.option == family.option and result.value in family.candidates[:3]
    field = make_field("image", field_type, height=32, width=32, **options, **result.options())
    assert field.config["backbone"]["cam"]["resolution"] == 8


def test_siren_layers_have_freshs_form_and_init():
    """FreSh's spectra are only comparable to its published picks if the sine layers are FreSh's:
    sin(W (omega z) + b) with the bias not scaled by omega, first-layer weights U(-1, 1) / fan_in and hidden / head
    weights U(-sqrt(6 / n), sqrt(6 / n)) / hidden omega."""
    torch.manual_seed(0)
    first, hidden, width = 70.0, 30.0, 64
    backbone = make_field("image", "siren", height=8, width=8, first_omega=first, hidden_omega=hidden,
                          hidden_dim=width, n_layers=3).backbone
    layers = [*backbone.hidden, backbone.head]
    assert layers[0].weight.abs().max() <= 1.0 / 2 and layers[0].weight.abs().max() > 0.9 / 2
    for layer in layers[1:]:
        bound = np.sqrt(6.0 / width) / hidden
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
    x = torch.rand(100, 2) * 2 - 1
    z = x
    for layer, omega in zip(backbone.hidden, [first, hidden, hidden]):
        z = torch.sin((omega * z) @ layer.weight.T + layer.bias)
    expected = z @ backbone.head.weight.T + backbone.head.bias
    assert torch.allclose(backbone(x), expected, atol=1e-5)


def test_omega_head_scales_the_output_but_not_the_spectrum_shape():
    """FreSh's SIREN configuration multiplies the head's input by omega: the untrained output is omega times larger
    apart from the bias, so the FreSh distance is unchanged; plain sirens keep the original head and config."""
    plain = initial_output("siren", 32, seed=3, **SMALL)
    boosted = initial_output("siren", 32, seed=3, omega_head=True, **SMALL)
    centred = [x - x.mean(dim=(1, 2), keepdim=True) for x in (plain, boosted)]
    assert torch.allclose(centred[1], 30.0 * centred[0], rtol=1e-4, atol=1e-5)
    target = spectrum(torch.rand(3, 32, 32))
    distances = [spectrum_distance(target, spectrum(x), 16) for x in (plain, boosted)]
    assert np.isclose(*distances)
    field = make_field("image", "siren", height=8, width=8, omega_head=True, **SMALL)
    assert field.config["backbone"]["omega_head"] is True
    assert "omega_head" not in make_field("image", "siren", height=8, width=8, **SMALL).config["backbone"]
