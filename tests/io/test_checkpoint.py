import json
import os
import pickle

import pytest
import torch

from fields.io import CheckpointError, load_checkpoint, save_checkpoint
from fields.io import checkpoint as checkpoint_module


def _tensors(seed=0):
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(6, 5, generator=generator)
    return {
        "encoding.table": torch.randn(64, 2, generator=generator),
        "mlp.0.weight": base,
        "mlp.0.weight_t": base.t(),  # shares memory with the entry above, and is not contiguous
        "grid.bits": torch.randint(0, 255, (4, 4, 4), generator=generator, dtype=torch.uint8),
        "grid.mask": torch.rand(8, generator=generator) > 0.5,
        "half": torch.randn(3, generator=generator).half(),
        "step": torch.tensor(1234, dtype=torch.int64),
        "empty": torch.zeros(0, 3),
    }


META = {"field": "hashgrid", "step": 1234, "scene_box": [-1.5, -1.5, -1.5, 1.5, 1.5, 1.5],
        "config": {"levels": 16, "lr": 1e-2, "name": "lego", "nested": [1, 2, {"a": None}]}}


def _snapshot(directory):
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def test_round_trip(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt" / "step_001234.safetensors", _tensors(), META)
    assert path == tmp_path / "ckpt" / "step_001234.safetensors"
    assert json.loads((tmp_path / "ckpt" / "step_001234.json").read_text()) == META
    tensors, meta = load_checkpoint(path)
    assert meta == META
    expected = _tensors()
    assert tensors.keys() == expected.keys()
    for name, tensor in expected.items():
        assert tensors[name].dtype == tensor.dtype and torch.equal(tensors[name], tensor), name
    # either suffix, or none, names the same checkpoint
    for alias in ("step_001234", "step_001234.json"):
        assert load_checkpoint(tmp_path / "ckpt" / alias)[1] == META


def test_overwrite_replaces_both_files_and_leaves_no_temporaries(tmp_path):
    save_checkpoint(tmp_path / "latest", _tensors(0), {"step": 1})
    save_checkpoint(tmp_path / "latest", _tensors(1), {"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.safetensors"]
    tensors, meta = load_checkpoint(tmp_path / "latest")
    assert meta == {"step": 2} and torch.equal(tensors["encoding.table"], _tensors(1)["encoding.table"])


def test_failure_while_writing_tensors_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "latest", _tensors(0), {"step": 1})
    before = _snapshot(tmp_path)

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\x00" * 100)  # some bytes reach the disk...
        raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr(checkpoint_module, "save_file", half_written)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "latest", _tensors(1), {"step": 2})
    assert _snapshot(tmp_path) == before  # same files, same bytes, no temporary left behind
    assert load_checkpoint(tmp_path / "latest")[1] == {"step": 1}


@pytest.mark.parametrize("failing_call", [2, 3])  # fsync of the metadata temp file; the first rename
def test_failure_after_the_weights_are_written_keeps_the_previous_checkpoint(tmp_path, monkeypatch, failing_call):
    save_checkpoint(tmp_path / "latest", _tensors(0), {"step": 1})
    before = _snapshot(tmp_path)
    calls = {"n": 0}
    real_fsync, real_replace = os.fsync, os.replace

    def counted(real):
        def call(*args):
            calls["n"] += 1
            if calls["n"] == failing_call:
                raise OSError(5, "Input/output error")
            return real(*args)

        return call

    monkeypatch.setattr(os, "fsync", counted(real_fsync))  # calls 1 and 2: fsync of the two temp files
    monkeypatch.setattr(os, "replace", counted(real_replace))  # call 3: the first rename
    with pytest.raises(OSError, match="Input/output error"):
        save_checkpoint(tmp_path / "latest", _tensors(1), {"step": 2})
    assert _snapshot(tmp_path) == before


def test_interrupted_process_leaves_the_previous_checkpoint(tmp_path):
    """A hard kill in the middle of a save (no Python cleanup at all) leaves the old checkpoint loadable."""
    import subprocess
    import sys

    save_checkpoint(tmp_path / "latest", _tensors(0), {"step": 1})
    script = (
        "import os, torch\n"
        "from fields.io import checkpoint as c\n"
        "real = c.save_file\n"
        "def killed(tensors, filename, metadata=None):\n"
        "    real(tensors, filename, metadata=metadata)\n"
        "    os._exit(9)\n"
        "c.save_file = killed\n"
        f"c.save_checkpoint({str(tmp_path / 'latest')!r}, {{'w': torch.ones(1000)}}, {{'step': 2}})\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, timeout=120)
    assert result.returncode == 9, result.stderr.decode()
    tensors, meta = load_checkpoint(tmp_path / "latest")
    assert meta == {"step": 1} and "encoding.table" in tensors
    assert (tmp_path / "latest.json").read_text().strip() == json.dumps({"step": 1}, indent=2)


def test_missing_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "step_10", {"w": torch.ones(1)}, {})
    with pytest.raises(FileNotFoundError, match=r"step_20\.safetensors.*Checkpoints in that directory: step_10"):
        load_checkpoint(tmp_path / "step_20")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights(tmp_path, damage):
    path = save_checkpoint(tmp_path / "latest", _tensors(), META)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(256), "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"latest\.safetensors is not a readable safetensors file"):
        load_checkpoint(path)


def test_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "model")
    assert not marker.exists()


def test_metadata_sidecar_problems(tmp_path):
    path = save_checkpoint(tmp_path / "latest", {"w": torch.ones(2)}, {"step": 5})
    meta_path = tmp_path / "latest.json"
    meta_path.write_text('{"step": 6}')  # stale or hand-edited: the embedded copy wins, with a warning
    with pytest.warns(UserWarning, match="differs from the metadata embedded"):
        assert load_checkpoint(path)[1] == {"step": 5}
    meta_path.write_text('{"step": ')
    with pytest.warns(UserWarning, match="unreadable"):
        assert load_checkpoint(path)[1] == {"step": 5}
    meta_path.unlink()
    assert load_checkpoint(path)[1] == {"step": 5}  # the weights file alone is a complete checkpoint


def test_weights_from_elsewhere_use_the_sidecar_json(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="no embedded metadata"):
        load_checkpoint(tmp_path / "foreign")
    (tmp_path / "foreign.json").write_text('{\n  "field": "mlp",\n  oops\n}')
    with pytest.raises(CheckpointError, match=r"foreign\.json: invalid checkpoint metadata JSON at line 3"):
        load_checkpoint(tmp_path / "foreign")
    (tmp_path / "foreign.json").write_text('{"field": "mlp"}')
    assert load_checkpoint(tmp_path / "foreign")[1] == {"field": "mlp"}


def test_bad_arguments_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path / "a", {"w": torch.ones(1)}, {"box": torch.ones(6)})
    with pytest.raises(TypeError, match="must map str to torch.Tensor"):
        save_checkpoint(tmp_path / "a", {"w": [1.0, 2.0]}, {})
    assert list(tmp_path.iterdir()) == []
