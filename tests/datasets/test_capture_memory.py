"""Memory of large captures: the check before decoding, the default downscale, loading into one uint8 tensor, the
disk cache of decoded images, and a sampler that keeps no copy of the images."""
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from fields.datasets import RaySampler, SceneFormatError, SceneTooLargeError, default_downscale, load_scene
from fields.datasets import capture_memory
from fields.datasets.capture_memory import (
    CPU_MAX_PIXELS,
    TRAINING_HEADROOM_BYTES,
    available_memory_bytes,
    decoded_bytes,
    resolve_downscale,
)
from fields.datasets.procedural import look_at

WIDTH, HEIGHT, COUNT = 40, 30, 6


@pytest.fixture
def capture(tmp_path):
    """An instant-ngp capture of COUNT random RGB JPEGs (no alpha, as phone captures are)."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    frames = []
    for index in range(COUNT):
        Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(
            tmp_path / "images" / f"{index}.png")
        pose = look_at(np.array([3.0, 0.4 * index, 1.0]))
        frames.append({"file_path": f"images/{index}.png", "transform_matrix": pose.tolist()})
    (tmp_path / "transforms.json").write_text(json.dumps({"fl_x": 30.0, "frames": frames}))
    return tmp_path


def _memory_available(monkeypatch, total_bytes: int) -> None:
    monkeypatch.setattr(capture_memory, "available_memory_bytes", lambda: total_bytes)


def test_default_downscale_brings_images_under_the_cpu_cap():
    assert default_downscale(1920, 1080) == 2
    assert default_downscale(800, 800) == 1
    assert default_downscale(4032, 3024) == 3
    assert default_downscale(3840, 2160, "cuda") == 1 and default_downscale(3840, 2160, "cuda:0") == 1
    for width, height in [(1920, 1080), (1440, 1080), (1441, 1111), (4032, 3024), (7680, 4320), (640, 480)]:
        factor = default_downscale(width, height)
        assert (width // factor) * (height // factor) <= CPU_MAX_PIXELS
        if factor > 1:  # the smallest such factor
            assert (width // (factor - 1)) * (height // (factor - 1)) > CPU_MAX_PIXELS


def test_available_memory_is_measured():
    available = available_memory_bytes()
    assert available is None or 0 < available < 1 << 50


def test_a_capture_that_cannot_fit_stops_before_decoding(capture, monkeypatch):
    per_image = decoded_bytes(1, WIDTH, HEIGHT)
    _memory_available(monkeypatch, TRAINING_HEADROOM_BYTES + 2 * per_image)  # room for two full-size images
    monkeypatch.setattr("fields.datasets._files._read_rgba", lambda *args: pytest.fail("an image was decoded"))
    with pytest.raises(SceneTooLargeError) as error:
        load_scene(capture, "all", downscale=1)
    message = str(error.value)
    assert str(capture / "transforms.json") in message and f"{COUNT} images of {WIDTH}x{HEIGHT}" in message
    suggested = int(re.search(r"pass --downscale (\d+)", message).group(1))
    budget = 2 * per_image
    assert decoded_bytes(COUNT, WIDTH, HEIGHT, suggested) <= budget < decoded_bytes(COUNT, WIDTH, HEIGHT, suggested - 1)
    assert "--image-cache" in message


def test_the_suggested_downscale_loads(capture, monkeypatch):
    _memory_available(monkeypatch, TRAINING_HEADROOM_BYTES + 2 * decoded_bytes(1, WIDTH, HEIGHT))
    with pytest.raises(SceneTooLargeError) as error:
        load_scene(capture, "all", downscale=1)
    suggested = int(re.search(r"pass --downscale (\d+)", str(error.value)).group(1))
    scene = load_scene(capture, "all", downscale=suggested)
    assert scene.images.shape == (COUNT, HEIGHT // suggested, WIDTH // suggested, 4) and scene.downscale == suggested


def test_the_default_downscale_rises_until_the_images_fit(capture, monkeypatch):
    _memory_available(monkeypatch, 1 << 40)
    assert load_scene(capture, "all", downscale=None).downscale == 1  # small images: the CPU rule keeps them
    _memory_available(monkeypatch, TRAINING_HEADROOM_BYTES + decoded_bytes(COUNT, WIDTH, HEIGHT, 3))
    scene = load_scene(capture, "all", downscale=None)
    assert scene.downscale == 3 and scene.images.shape[1:3] == (HEIGHT // 3, WIDTH // 3)
    torch.testing.assert_close(scene.intrinsics[0, :2], torch.tensor([10.0, 10.0]))  # 30 px / 3
    assert resolve_downscale(None, 10, 1920, 1080, "x", available=1 << 40) == 2  # the CPU rule on a large image
    assert resolve_downscale(None, 10, 1920, 1080, "x", device="cuda", available=1 << 40) == 1


def test_unknown_available_memory_skips_the_check(capture, monkeypatch):
    _memory_available(monkeypatch, None)
    assert load_scene(capture, "all", downscale=1).images.shape == (COUNT, HEIGHT, WIDTH, 4)


def test_loaded_images_equal_each_file(capture):
    scene = load_scene(capture, "all", downscale=1)
    assert scene.images.dtype == torch.uint8 and scene.images.is_contiguous()
    for index, path in enumerate(scene.image_paths):
        expected = np.array(Image.open(path).convert("RGBA"))
        assert np.array_equal(scene.images[index].numpy(), expected)


def test_disk_cache_maps_the_same_images_and_is_reused(capture, tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    _memory_available(monkeypatch, 0)  # memory plays no part with a cache
    first = load_scene(capture, "all", downscale=2, cache_dir=cache)
    _memory_available(monkeypatch, None)
    expected = load_scene(capture, "all", downscale=2)
    assert torch.equal(first.images, expected.images) and first.has_alpha == expected.has_alpha
    entries = sorted(p.suffix for p in cache.iterdir())
    assert entries == [".json", ".npy"]  # one entry, no partial file left
    monkeypatch.setattr("fields.datasets._files._read_rgba", lambda *args: pytest.fail("decoded again"))
    again = load_scene(capture, "all", downscale=2, cache_dir=cache)
    assert torch.equal(again.images, expected.images)
    again.images[0] = 0  # copy-on-write: the cache file is not changed
    assert torch.equal(load_scene(capture, "all", downscale=2, cache_dir=cache).images, expected.images)


def test_disk_cache_misses_when_an_image_changes(capture, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    load_scene(capture, "all", downscale=1, cache_dir=cache)
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 7, dtype=np.uint8)).save(capture / "images" / "2.png")
    scene = load_scene(capture, "all", downscale=1, cache_dir=cache)
    assert bool((scene.images[2, ..., :3] == 7).all())
    assert len(list(cache.glob("*.npy"))) == 2


def test_an_interrupted_cache_write_leaves_nothing(capture, tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("fields.datasets._files._read_rgba", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_scene(capture, "all", downscale=1, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_sampler_keeps_no_copy_of_the_images_and_matches_the_float_images(capture):
    scene = load_scene(capture, "all", downscale=1)
    sampler = RaySampler(scene, seed=3)
    assert sampler.pixels_rgba.dtype == torch.uint8
    assert sampler.pixels_rgba.data_ptr() == scene.images.data_ptr()  # a view, not a copy
    batch = sampler.sample(2048)
    float_images = scene.images.float() / 255.0  # what a float32 copy of the dataset would hold
    columns, rows = (batch.pixels - 0.5).long().unbind(-1)
    assert torch.equal(batch.rgba, float_images[batch.image_indices, rows, columns])


def test_a_cache_entry_that_does_not_match_its_images_is_reported(capture, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    load_scene(capture, "all", downscale=1, cache_dir=cache)
    (entry,) = cache.glob("*.npy")
    np.save(entry, np.zeros((COUNT, 2, 2, 4), dtype=np.uint8))
    with pytest.raises(SceneFormatError, match=r"does not match its images .*delete it"):
        load_scene(capture, "all", downscale=1, cache_dir=cache)
