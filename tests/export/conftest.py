"""Fixtures of the export tests: analytic fields with known surfaces, and a checkpoint of a fitted field."""
import pytest
import torch

from analytic_fields import AnalyticRadianceField, SphereSdf, fit_radiance_field


@pytest.fixture
def radiance_field():
    return AnalyticRadianceField()


@pytest.fixture
def sphere_sdf():
    return SphereSdf()


@pytest.fixture(scope="session")
def radiance_checkpoint(tmp_path_factory, procedural_scene):
    """A radiance-field checkpoint (fitted field of :func:`fit_radiance_field`) that names the procedural scene as
    its training scene."""
    from fields.run.checkpoint import save_training_state

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see one_thread below (a session fixture runs outside it)
    try:
        field, grid, optimizer = fit_radiance_field()
    finally:
        torch.set_num_threads(threads)
    path = tmp_path_factory.mktemp("fitted") / "checkpoints" / "latest.safetensors"
    path.parent.mkdir(parents=True)
    meta = {"step": 150, "scene": "procedural", "scene_path": str(procedural_scene),
            "render": {"render_step_size": 5e-3, "cone_angle": 0.0}}
    save_training_state(path, field, grid, optimizer, meta)
    return path


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors in these tests are small: on a shared 2-core machine one intra-op thread is many times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
