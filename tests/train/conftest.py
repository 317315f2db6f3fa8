import pytest

from fields.train.config import TrainNerfConfig

# A small field so that a few hundred CPU steps fit in a test.
SMALL_FIELD = {"log2_hashmap_size": 14, "finest_resolution": 256, "n_levels": 8}


@pytest.fixture
def small_config(procedural_scene, tmp_path):
    def make(**overrides):
        options = dict(scene=str(procedural_scene), device="cpu", max_steps=30, output=tmp_path / "run",
                       progress=False, val_views=1, eval_every=2, save_every=10**6, target_samples=1 << 13,
                       grid_resolution=32, field_options=SMALL_FIELD)
        options.update(overrides)
        return TrainNerfConfig(**options)

    return make


def interrupted_run(trainer, method: str, calls: int) -> KeyboardInterrupt:
    """Runs ``trainer`` with its ``method`` raising KeyboardInterrupt once it has been called ``calls`` times, as
    Ctrl+C would; returns the interruption (its note says what was saved)."""
    original, made = getattr(trainer, method), []

    def interrupting():
        if len(made) == calls:
            raise KeyboardInterrupt
        made.append(1)
        return original()

    setattr(trainer, method, interrupting)
    with pytest.raises(KeyboardInterrupt) as stopped:
        trainer.run()
    return stopped.value
