import socket

import pytest

from fields.render import OccupancyGrid

from viewer_helpers import SPHERE_RADIUS, RedSphereField


@pytest.fixture(scope="session")
def red_sphere():
    """(field, occupancy grid) of the analytic red sphere."""
    field = RedSphereField()
    grid = OccupancyGrid(field.aabb.tolist(), resolution=32)
    margin = 3.0 ** 0.5 * 3.0 / 32  # a cell diagonal: cells the sphere touches count as occupied
    grid.update(0, lambda x: (x.norm(dim=-1) < SPHERE_RADIUS + margin).float())
    return field, grid


@pytest.fixture
def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
