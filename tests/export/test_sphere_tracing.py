import math

import numpy as np
import pytest
import torch

from fields.export.camera_path import look_at
from fields.render.camera import PinholeCamera
from fields.render.sphere_tracing import render_sdf_camera


def test_sphere_tracing_finds_the_sphere_at_its_distance_with_its_normals(sphere_sdf):
    centre = sphere_sdf.centre.numpy().astype(np.float64)
    eye = centre + np.array([0.0, -3.0, 0.0])
    camera = PinholeCamera.from_fov(torch.from_numpy(look_at(eye, centre, np.array([0.0, 0.0, 1.0]))).float(),
                                    32, 32, 40.0)
    out = render_sdf_camera(sphere_sdf, camera)
    assert out["depth"][16, 16] == pytest.approx(3.0 - sphere_sdf.radius, abs=2e-3)
    # The pixel facing the camera has the normal (0, -1, 0): colour 0.5 + 0.5 n.
    np.testing.assert_allclose(out["rgb"][16, 16].numpy(), [0.5, 0.0, 0.5], atol=0.05)
    # Coverage: the sphere's angular radius asin(r / 3) against the half field of view.
    covered = out["opacity"][16].sum().item()
    expected = 32 * math.tan(math.asin(sphere_sdf.radius / 3.0)) / math.tan(math.radians(20.0))
    assert covered == pytest.approx(expected, abs=2)
    assert out["rgb"][0, 0].tolist() == [1.0, 1.0, 1.0]  # background
