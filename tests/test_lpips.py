"""fields/lpips.py with weights the test writes itself in the standard layouts (torchvision's AlexNet state dict in a
temporary torch hub cache, the lpips package's linear layers): an independent torchvision-style reference, the
metric's properties, and clear errors when weights are missing or unreadable."""
import numpy as np
import pytest
import torch
from torch import nn

from fields.lpips import ALEXNET_CONVS, LpipsWeightsMissing, load_lpips, lpips_distance

CHANNELS = [c_out for _, _, c_out, _, _, _ in ALEXNET_CONVS]


def _trunk_state(seed=0) -> dict:
    """A random AlexNet state dict with torchvision's keys (classifier included, as in the real file)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for index, c_in, c_out, kernel, _, _ in ALEXNET_CONVS:
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, kernel, kernel, generator=generator) * (
            2.0 / (c_in * kernel * kernel)) ** 0.5
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=generator) * 0.01
    state["classifier.1.weight"] = torch.zeros(8, 9216)
    return state


def _linear_state(seed=1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator) for k, c in enumerate(CHANNELS)}


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A torch hub cache holding the two standard weight files; nothing may be downloaded."""
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(_trunk_state(), checkpoints / "alexnet-owt-7be5be79.pth")
    torch.save(_linear_state(), checkpoints / "alex.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    return tmp_path


@torch.no_grad()
def _reference_lpips(x0, x1, trunk, linear):
    """LPIPS as the paper defines it on torchvision's `alexnet().features`, sliced after each ReLU."""
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, 1, 2), nn.ReLU(),
        nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2))
    features.load_state_dict({k.removeprefix("features."): v for k, v in trunk.items() if k.startswith("features")})
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    a, b = (x0 - shift) / scale, (x1 - shift) / scale
    total = 0.0
    for k, (start, stop) in enumerate([(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)]):
        a, b = features[start:stop](a), features[start:stop](b)
        unit_a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        unit_b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + ((unit_a - unit_b) ** 2 * linear[f"lin{k}.model.1.weight"]).sum(1).mean(dim=(1, 2))
    return total


def _images(seed, shape=(2, 64, 48, 3)):
    return torch.from_numpy(np.random.default_rng(seed).random(shape)).float()


def test_matches_a_torchvision_style_reference(torch_home):
    model = load_lpips()
    pred, target = _images(0), _images(1)
    expected = _reference_lpips(pred.permute(0, 3, 1, 2) * 2 - 1, target.permute(0, 3, 1, 2) * 2 - 1,
                                _trunk_state(), _linear_state())
    assert expected.shape == (2,)
    assert lpips_distance(model, pred, target) == pytest.approx(float(expected.mean()), rel=1e-5)
    taps = model.features(pred.permute(0, 3, 1, 2))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 15, 11), (192, 7, 5), (384, 3, 2), (256, 3, 2), (256, 3, 2)]


def test_properties(torch_home):
    model = load_lpips()
    target = _images(2, (64, 64, 3))
    assert lpips_distance(model, target, target) == 0.0
    noise = _images(3, (64, 64, 3)) - 0.5
    slightly, very = (target + 0.1 * noise).clamp(0, 1), (target + 0.6 * noise).clamp(0, 1)
    assert lpips_distance(model, slightly, target) == pytest.approx(lpips_distance(model, target, slightly))
    assert 0.0 < lpips_distance(model, slightly, target) < lpips_distance(model, very, target)
    with pytest.raises(ValueError, match="at least 32x32"):
        lpips_distance(model, target[:16, :16], target[:16, :16])


def test_one_combined_weight_file(tmp_path, torch_home):
    combined = tmp_path / "lpips_alex.pth"
    torch.save(_trunk_state() | _linear_state(), combined)
    pred, target = _images(4), _images(5)
    assert lpips_distance(load_lpips(combined), pred, target) == lpips_distance(load_lpips(), pred, target)


def test_missing_or_broken_weights_say_what_to_do(tmp_path, torch_home):
    checkpoints = torch_home / "hub" / "checkpoints"
    (checkpoints / "alex.pth").unlink()
    with pytest.raises(LpipsWeightsMissing, match="alex.pth.*--lpips-weights"):
        load_lpips()
    (checkpoints / "alexnet-owt-7be5be79.pth").unlink()
    with pytest.raises(LpipsWeightsMissing, match="alexnet-owt"):
        load_lpips()
    with pytest.raises(LpipsWeightsMissing, match="does not exist"):
        load_lpips(tmp_path / "nowhere.pth")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="not a readable weight file"):
        load_lpips(broken)
    partial = tmp_path / "trunk_only.pth"
    torch.save(_trunk_state(), partial)
    with pytest.raises(ValueError, match="standard AlexNet/lpips layout"):
        load_lpips(partial)


@pytest.mark.slow
def test_eval_app_reports_lpips_or_why_not(procedural_scene, tmp_path, torch_home):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": str(root)}

    def app(name, *args, **extra_env):
        return subprocess.run([sys.executable, str(root / "apps" / name), *map(str, args)], env=env | extra_env,
                              capture_output=True, text=True, timeout=300)

    run = tmp_path / "run"
    train = app("train_nerf.py", "--scene", procedural_scene, "--device", "cpu", "--max-steps", 5, "--output", run,
                "--no-progress", "--eval-every", 0, "--target-samples", 4096, "--grid-resolution", 32)
    assert train.returncode == 0, train.stderr
    measured = app("eval.py", "--checkpoint", run, "--output", tmp_path / "with", "--device", "cpu")
    assert measured.returncode == 0, measured.stderr
    metrics = json.loads((tmp_path / "with" / "metrics.json").read_text())
    assert metrics["lpips"] > 0 and "lpips_missing" not in metrics and "LPIPS" in measured.stdout

    without = app("eval.py", "--checkpoint", run, "--output", tmp_path / "without", "--device", "cpu",
                  TORCH_HOME=str(tmp_path / "empty"))
    assert without.returncode == 0, without.stderr
    metrics = json.loads((tmp_path / "without" / "metrics.json").read_text())
    assert metrics["lpips"] is None and "alexnet-owt" in metrics["lpips_missing"] and metrics["psnr"] > 0
    assert "LPIPS not measured: no AlexNet weights" in without.stdout

    bad = app("eval.py", "--checkpoint", run, "--output", tmp_path / "bad", "--device", "cpu", "--lpips-weights",
              tmp_path / "nowhere.pth")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --lpips-weights") and not (tmp_path / "bad").exists()
