import inspect

import pytest
import torch

from fields.models import BACKBONES, make_field
from fields.render import OccupancyGrid
from fields.run.checkpoint import save_training_state

# Small sizes for whichever of these options a field type accepts (no per-type code: unknown names are skipped).
TINY = {"hidden_dim": 32, "n_layers": 2, "n_frequencies": 4, "log2_hashmap_size": 12, "n_levels": 4,
        "finest_resolution": 64, "skips": []}


def tiny_options(field_type: str) -> dict:
    accepted = set(inspect.signature(BACKBONES[field_type].__init__).parameters)
    return {k: v for k, v in TINY.items() if k in accepted}


def write_teacher(path, scene_path, field_type: str = "hash", seed: int = 0):
    """An (untrained) radiance checkpoint of ``field_type`` with an all-occupied 16^3 grid, as train_nerf.py writes
    it: enough to distil from."""
    torch.manual_seed(seed)
    field = make_field("radiance", field_type, **tiny_options(field_type))
    grid = OccupancyGrid(field.aabb.tolist(), resolution=16)
    grid.mark_all_occupied()
    optimizer = torch.optim.Adam(field.parameters())
    meta = {"scene": scene_path.name, "scene_path": str(scene_path), "step": 0, "train_seconds": 0.0,
            "n_rays": 256, "render": {"render_step_size": 0.05, "cone_angle": 0.0}}
    save_training_state(path, field, grid, optimizer, meta)
    return path


@pytest.fixture(scope="module")
def hash_teacher(procedural_scene, tmp_path_factory):
    """A hash field trained for a few steps on the procedural scene (so that it has structure to distil)."""
    from fields.train.config import TrainNerfConfig
    from fields.train.nerf_trainer import NerfTrainer

    out = tmp_path_factory.mktemp("teacher") / "run"
    NerfTrainer(TrainNerfConfig(scene=str(procedural_scene), device="cpu", max_steps=40, output=out, progress=False,
                                val_views=0, eval_every=1, save_every=10**6, target_samples=1 << 13,
                                grid_resolution=32, field_options=tiny_options("hash"))).run()
    return out / "checkpoints" / "latest.safetensors"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests run many tiny batches: on a loaded 2-core machine a second intra-op thread makes them ~10x
    slower instead of faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
