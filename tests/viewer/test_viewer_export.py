"""The viewer's "Export mesh" writes an SDF checkpoint's mesh in the coordinates apps/export_mesh.py writes it in:
the original mesh's, through the checkpoint's meta["normalization"] (issue 4)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

import fields.viewer
from fields.models import make_field
from fields.run.checkpoint import save_training_state
from fields.viewer import Viewer, ViewerError

from viewer_helpers import wait_for
from fields.run import exit_code

APPS = Path(__file__).resolve().parents[2] / "apps"
NORMALIZATION = {"center": [3.0, -2.0, 10.0], "scale": 4.0}  # x_unit = (x_mesh - center) / scale


@pytest.fixture
def sdf_checkpoint(tmp_path):
    """A small untrained SDF field, shifted so that its zero level crosses the box, saved with a normalisation."""
    torch.manual_seed(0)
    field = make_field("sdf", "mlp", hidden_dim=16, n_layers=2)
    with torch.no_grad():
        field.backbone.head.bias -= field.sdf(torch.rand(4096, 3) * 2 - 1).median()
    path = tmp_path / "run" / "checkpoints" / "latest.safetensors"
    save_training_state(path, field, None, torch.optim.Adam(field.parameters()),
                        {"step": 0, "normalization": NORMALIZATION})
    return path


def viewer_of_view_app(checkpoint: Path, port: int, monkeypatch) -> Viewer:
    """The viewer apps/view.py serves for ``checkpoint``: its arguments, captured from view.main, build it here."""
    sys.path.insert(0, str(APPS))
    import view

    captured = {}

    def capture(*args, **kwargs):
        captured.update(args=args, kwargs=kwargs)
        raise ViewerError("arguments captured")  # view.main stops here instead of serving forever

    with monkeypatch.context() as patch:
        patch.setattr(fields.viewer, "Viewer", capture)
        assert exit_code(view.main, view.ViewConfig(checkpoint=checkpoint, port=port, device="cpu", max_resolution=32)) == 2
    return Viewer(*captured["args"], **captured["kwargs"] | {"verbose": False})


def test_export_button_writes_sdf_meshes_in_the_coordinates_of_export_mesh(sdf_checkpoint, free_port, tmp_path,
                                                                           monkeypatch):
    sys.path.insert(0, str(APPS))
    import export_mesh

    reference = tmp_path / "export_mesh.ply"
    assert exit_code(export_mesh.main, export_mesh.ExportMeshConfig(checkpoint=sdf_checkpoint, output=reference, resolution=32,
                                                         device="cpu")) == 0

    viewer = viewer_of_view_app(sdf_checkpoint, free_port, monkeypatch)
    messages = []
    try:
        assert viewer.export_mesh(None, 32, messages.append)  # what the button's handler calls
        assert wait_for(lambda: messages, 60.0)
    finally:
        viewer.close()
    assert messages[0].startswith("exported"), messages
    exported = trimesh.load(sdf_checkpoint.parent.parent / "viewer" / "mesh_mlp_32.ply", process=False)
    expected = trimesh.load(reference, process=False)
    assert len(exported.vertices) > 0
    np.testing.assert_allclose(exported.vertices, expected.vertices, atol=1e-6)
    unit = (exported.vertices - NORMALIZATION["center"]) / NORMALIZATION["scale"]
    assert np.abs(unit).max() <= 1.0 + 1e-6  # the original coordinates: they map back into the field's box
