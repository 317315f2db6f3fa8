"""The field heads give the same images and gradients whether their MLPs run through the fused op or layer by
layer, and a checkpoint loads into either path unchanged."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fields.io import load_checkpoint, save_checkpoint
from fields.models import build_field, make_field
from fields.models.layers import FUSED_MLP_DEVICES, fused_mlps
from fields.render import OccupancyGrid
from fields.render.volume import render_rays, render_rays_chunked

AABB = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
SMALL_GRID = dict(n_levels=4, log2_hashmap_size=12, finest_resolution=64)


class OpNames(TorchDispatchMode):
    """Records the names of the ops dispatched while active."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def fused_device(device) -> None:
    if device.type not in FUSED_MLP_DEVICES:
        pytest.skip(f"the field heads use the fused MLP on {FUSED_MLP_DEVICES} only")


def scene(device):
    """A hash radiance field with a well-filled density, an all-occupied grid and rays through the box."""
    torch.manual_seed(0)
    field = make_field("radiance", "hash", aabb=AABB, density_bias=4.0, **SMALL_GRID).to(device)
    with torch.no_grad():
        field.backbone.encoding.embeddings.normal_(0.0, 0.5)  # trained-like features, not the 1e-4 start
    grid = OccupancyGrid(AABB, resolution=16).to(device)
    grid.mark_all_occupied()
    g = torch.Generator().manual_seed(1)
    origins = torch.tensor([0.0, 0.0, -3.0]) + 0.3 * torch.randn(256, 3, generator=g)
    directions = torch.nn.functional.normalize(-origins + 0.2 * torch.randn(256, 3, generator=g), dim=-1)
    return field, grid, origins.to(device), directions.to(device)


def test_checkpoint_renders_the_same_image_with_and_without_the_fused_mlp(device, tmp_path):
    fused_device(device)
    field, grid, origins, directions = scene(device)
    path = save_checkpoint(tmp_path / "field.safetensors",
                           {k: v.detach().cpu() for k, v in field.state_dict().items()}, {"field": field.config})
    tensors, meta = load_checkpoint(path)
    loaded = build_field(meta["field"])
    loaded.load_state_dict(tensors)  # strict: same parameter names and shapes as before the op existed
    loaded = loaded.to(device).eval()
    images = {}
    for enabled in (True, False):
        with fused_mlps(enabled), OpNames() as seen:
            images[enabled] = render_rays_chunked(loaded, grid, origins, directions, torch.ones(3, device=device),
                                                  render_step_size=0.02, chunk=100)
        assert ("fused_mlp_forward" in seen.names) == enabled
    for fused, layered in zip(images[True], images[False]):
        torch.testing.assert_close(fused, layered, rtol=1e-5, atol=1e-5)
    assert images[True][1].mean() > 0.3  # the image is not empty background


def test_training_gradients_are_the_same_with_and_without_the_fused_mlp(device):
    fused_device(device)
    field, grid, origins, directions = scene(device)
    params = list(field.parameters())
    results = {}
    for enabled in (True, False):
        with fused_mlps(enabled), OpNames() as seen:
            out = render_rays(field, grid, origins, directions, torch.ones(3, device=device), render_step_size=0.02)
            grads = torch.autograd.grad(out.rgb.square().sum(), params)
        assert ("fused_mlp_backward" in seen.names) == enabled
        results[enabled] = (out.rgb.detach(), grads)
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-5, atol=1e-5)
    for (name, _), fused, layered in zip(field.named_parameters(), results[True][1], results[False][1]):
        # the hash table's entries sum many samples' terms of both signs: compare against the largest entry
        scale = layered.abs().max().item() + 1e-8
        torch.testing.assert_close(fused, layered, rtol=1e-4, atol=1e-4 * scale, msg=name)


@pytest.mark.parametrize("signal,dim", [("sdf", 3), ("image", 2)])
def test_sdf_and_image_hash_fields_are_the_same_with_and_without_the_fused_mlp(device, signal, dim):
    fused_device(device)
    torch.manual_seed(0)
    field = make_field(signal, "hash", **SMALL_GRID).to(device)
    with torch.no_grad():
        field.backbone.encoding.embeddings.normal_(0.0, 0.5)
    x = (torch.rand(500, dim, device=device) * 2 - 1).requires_grad_(True)
    outputs = {}
    for enabled in (True, False):
        with fused_mlps(enabled):
            y = field(x)
            outputs[enabled] = (y.detach(), torch.autograd.grad(y.square().sum(), x)[0])
    for fused, layered in zip(outputs[True], outputs[False]):
        torch.testing.assert_close(fused, layered, rtol=1e-5, atol=1e-5)


def test_colour_head_with_cam_keeps_the_layer_path(device):
    field = make_field("radiance", "hash", aabb=AABB, color_cam={}, **SMALL_GRID).to(device)
    h, d = torch.randn(50, 16, device=device), torch.nn.functional.normalize(torch.randn(50, 3, device=device), dim=-1)
    with OpNames() as seen:
        rgb = field.color(h, d)
    assert "fused_mlp_forward" not in seen.names and rgb.shape == (50, 3)
