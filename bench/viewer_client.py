"""A minimal stand-in for a browser, speaking viser's websocket protocol: it reports a camera and collects the
background frames the viewer pushes. Tests and bench/viewer.py use it to connect without a real browser."""
import io
import threading
import time

import numpy as np


class ViserProtocolClient:
    """Connects to a viser server on 127.0.0.1:``port``; ``frames`` collects (format, decoded image)."""

    def __init__(self, port: int):
        import viser
        from websockets.sync.client import connect

        self.socket = connect(f"ws://127.0.0.1:{port}", subprotocols=[f"viser-v{viser.__version__}"],
                              max_size=None)
        self.frames: list[tuple[str, np.ndarray]] = []
        self.frame_times: list[float] = []  # perf_counter() at each frame's arrival
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
                        image = np.asarray(Image.open(io.BytesIO(payload)))
                        self.frames.append((message["format"], image))
                        self.frame_times.append(time.perf_counter())
        except Exception:  # the connection closed
            return

    def close(self) -> None:
        self.socket.close()
