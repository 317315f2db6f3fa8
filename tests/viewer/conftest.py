import socket
import threading
import time

import numpy as np
import pytest
import torch

from fields.render import OccupancyGrid

SPHERE_RADIUS = 0.6
SPHERE_RGB = (0.9, 0.1, 0.1)


class RedSphereField(torch.nn.Module):
    """An analytic radiance field with the field contract: an opaque red sphere at the origin. Its picture is
    known exactly, and it costs nothing to "train", so viewer tests run in seconds."""
    signal = "radiance"
    field_type = "analytic"
    config: dict = {}

    def __init__(self, half_size: float = 1.5):
        super().__init__()
        self.register_buffer("aabb", torch.tensor([-half_size] * 3 + [half_size] * 3))
        self.scale = torch.nn.Parameter(torch.ones(()))  # something for training-like code to hold

    def density(self, x):
        inside = (x.norm(dim=-1) < SPHERE_RADIUS).float()
        return inside * 200.0 * self.scale, torch.zeros(x.shape[0], 16, device=x.device)

    def color(self, h, d):
        return torch.tensor(SPHERE_RGB, device=h.device).expand(h.shape[0], 3)

    def forward(self, x, d):
        sigma, h = self.density(x)
        return sigma, self.color(h, d)

    def num_parameters(self) -> int:
        return 1

    def size_mb(self) -> float:
        return 4e-6


class SphereSdf(torch.nn.Module):
    """An analytic SDF field: a sphere of radius 0.5 in [-1, 1]^3."""
    signal = "sdf"
    field_type = "analytic"

    def __init__(self, radius: float = 0.5):
        super().__init__()
        self.radius = radius
        self.register_buffer("aabb", torch.tensor([-1.0] * 3 + [1.0] * 3))

    def sdf(self, x):
        return x.norm(dim=-1) - self.radius


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


def wait_for(condition, timeout: float = 20.0, interval: float = 0.02) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def red_pixels(image: np.ndarray) -> int:
    """Pixels of the procedural scene's red sphere (strongly red, little green and blue)."""
    rgb = image[..., :3].astype(np.int32)
    return int(((rgb[..., 0] > 140) & (rgb[..., 1] < 110) & (rgb[..., 2] < 110)).sum())


class ViserTestClient:
    """A minimal browser stand-in speaking viser's websocket protocol: it reports a camera and collects the
    background frames the server pushes (decoded to images)."""

    def __init__(self, port: int):
        import viser
        from websockets.sync.client import connect

        self.socket = connect(f"ws://127.0.0.1:{port}", subprotocols=[f"viser-v{viser.__version__}"],
                              max_size=None)
        self.frames: list[tuple[str, np.ndarray]] = []
        self.messages: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send_camera(self, c2w_opengl, fov_y: float = 0.7, width: int = 320, height: int = 240) -> None:
        import msgspec
        from viser._messages import ViewerCameraMessage

        from fields.viewer.cameras import viser_from_c2w

        wxyz, position = viser_from_c2w(c2w_opengl)
        look_at = position - np.asarray(c2w_opengl)[:3, 2]
        message = ViewerCameraMessage(tuple(map(float, wxyz)), tuple(map(float, position)), fov_y, 0.01, 100.0,
                                      height, width, tuple(map(float, look_at)), (0.0, 0.0, 1.0))
        self.socket.send(msgspec.msgpack.encode(message.as_serializable_dict()))

    def _read(self) -> None:
        import io

        import msgspec
        import zstandard
        from PIL import Image

        try:
            while True:
                data = self.socket.recv()
                size, compressed = int.from_bytes(data[:8], "little"), int.from_bytes(data[8:16], "little")
                inner = msgspec.msgpack.decode(
                    zstandard.ZstdDecompressor().decompress(data[16:16 + compressed], max_output_size=size))
                offset, buffers = 16 + compressed, []
                for length in inner["binaryBufferLengths"]:
                    offset += -offset % 8
                    buffers.append(data[offset:offset + length])
                    offset += length
                for message in inner["messages"]:
                    self.messages.append(message)
                    payload = message.get("rgb_data") if message["type"] == "BackgroundImageMessage" else None
                    if isinstance(payload, dict):  # large payloads travel as binary buffers after the msgpack
                        payload = buffers[payload["__binary_index"]]
                    if payload is not None:
                        self.frames.append((message["format"], np.asarray(Image.open(io.BytesIO(payload)))))
        except Exception:  # the connection closed
            return

    def close(self) -> None:
        self.socket.close()
