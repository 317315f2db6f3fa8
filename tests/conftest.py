import pytest
import torch

import fields

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and fields.built_with_cuda() else [])


def _cuda_skip_reason() -> str:
    if not torch.cuda.is_available():
        return "no CUDA device on this machine"
    return "the native core was built without CUDA (torch has no CUDA or no toolkit was found)"


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Runs a test on the CPU, and on CUDA when a GPU and a CUDA build are present (skipped with the reason)."""
    if request.param == "cuda" and "cuda" not in DEVICES:
        pytest.skip(_cuda_skip_reason())
    return torch.device(request.param)


@pytest.fixture(scope="session")
def procedural_scene(tmp_path_factory):
    """A small posed-image scene rendered by the project itself from an analytic field (48 x 48 views)."""
    from fields.datasets import make_procedural_scene

    return make_procedural_scene(tmp_path_factory.mktemp("scene") / "procedural", n_train=16, n_val=3, n_test=2,
                                 size=48)


@pytest.fixture(scope="session")
def unbounded_capture(tmp_path_factory):
    """An instant-ngp capture (aabb_scale 16, SfM points) of the procedural scene before a far textured backdrop."""
    from fields.datasets.procedural import make_unbounded_capture

    return make_unbounded_capture(tmp_path_factory.mktemp("capture") / "unbounded", n_frames=16, size=32)
