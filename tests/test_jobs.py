"""fields/jobs.py: local backends run every job once, and a Ray address that cannot work fails at once, clearly."""
import socket
from functools import partial

import pytest

from fields.jobs import check_ray_address, run_jobs


@pytest.mark.parametrize("workers", [1, 2])
def test_local_backends_run_every_job_once(workers):
    square = partial(pow, exp=2)
    outcomes = dict(run_jobs(square, range(7), workers=workers))
    assert outcomes == {job: job * job for job in range(7)}


def test_unusable_ray_addresses_fail_at_once():
    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(RuntimeError, match=f"cannot reach a Ray cluster at {address}.*ray start --head"):
            check_ray_address(address, timeout=2.0)
    with pytest.raises(RuntimeError, match="not an address: use HOST:PORT"):
        check_ray_address("head-node")
