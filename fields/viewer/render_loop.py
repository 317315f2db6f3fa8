"""The per-browser render loop: a low-resolution JPEG frame sized to a ray budget while the camera moves, the
full-resolution frame once it has rested for a moment, stale frames abandoned, and refreshes while training runs.

One :class:`ClientRenderLoop` thread serves one browser tab. It knows the field only through a renderer
(:mod:`fields.viewer.renderers`) and the browser only through ``camera()`` and ``send(image, moving)``."""
import math
import threading
import time
import traceback
from typing import Callable

from fields.render.camera import PinholeCamera
from fields.viewer.renderers import RenderInterrupted

REST_SECONDS = 0.15  # a camera quiet this long has stopped moving: render the full-resolution frame
MIN_HEIGHT = 24


class ResolutionControl:
    """Frame sizes from the measured render speed: while moving, as many pixels as ``rays/s / target_fps``
    allows; at rest, the resolution cap on the long side. The speed is kept per render path ("field", "preview":
    see :mod:`fields.viewer.renderers`), since a baked preview renders many times faster than the field."""

    def __init__(self, target_fps: float = 10.0, rays_per_second: float = 50_000.0, smoothing: float = 0.3):
        self.target_fps = target_fps
        self.initial_rays_per_second = rays_per_second  # the guess for a path not measured yet
        self.smoothing = smoothing
        self._speeds: dict[str, float] = {}
        self._lock = threading.Lock()

    def rays_per_second(self, path: str = "field") -> float:
        return self._speeds.get(path, self.initial_rays_per_second)

    def set_rays_per_second(self, path: str, rays_per_second: float) -> None:
        """Replaces the estimate (e.g. with a warm-up measurement)."""
        with self._lock:
            self._speeds[path] = rays_per_second

    def observe(self, rays: int, seconds: float, path: str = "field") -> None:
        """Folds one render's speed into the running estimate (tiny frames say little about throughput)."""
        if rays < 1024 or seconds <= 0:
            return
        with self._lock:
            current = self.rays_per_second(path)
            self._speeds[path] = current + self.smoothing * (rays / seconds - current)

    def moving_size(self, aspect: float, max_resolution: int, path: str = "field") -> tuple[int, int]:
        budget = self.rays_per_second(path) / self.target_fps
        height = math.sqrt(budget / aspect)
        return self._fit(aspect, height, max_resolution)

    @staticmethod
    def static_size(aspect: float, max_resolution: int) -> tuple[int, int]:
        if aspect >= 1:
            return max_resolution, max(MIN_HEIGHT, round(max_resolution / aspect))
        return max(1, round(max_resolution * aspect)), max_resolution

    @staticmethod
    def _fit(aspect: float, height: float, max_resolution: int) -> tuple[int, int]:
        """(width, height) with the given aspect, the long side at most ``max_resolution``."""
        height = max(MIN_HEIGHT, min(int(height), max_resolution))
        width = round(height * aspect)
        if width > max_resolution:
            width, height = max_resolution, max(MIN_HEIGHT, round(max_resolution / aspect))
        return max(1, width), height


class ClientRenderLoop(threading.Thread):
    """Renders for one browser. ``camera(width, height)`` gives its current view as a PinholeCamera (None until
    the browser has reported one), ``aspect()`` its canvas aspect, ``send(image, moving)`` pushes a frame.
    ``prepare(moving)`` names the render path of the next frame and brings what it needs up to date (a baked
    preview) before the frame's timing starts; ``render(camera, should_stop, path)`` draws a uint8 image along
    it. While training runs, ``field_version()`` (the training step) changes; a resting view is re-rendered
    when it did and ``refresh_interval(last_full_seconds)`` has passed since the last full frame."""

    def __init__(self, *, camera: Callable[[int, int], PinholeCamera | None], aspect: Callable[[], float],
                 render: Callable, send: Callable, resolution: ResolutionControl,
                 prepare: Callable[[bool], str] = lambda moving: "field",
                 max_resolution: Callable[[], int], field_version: Callable[[], int] = lambda: 0,
                 refresh_interval: Callable[[float], float] = lambda _: 1.0,
                 busy: Callable[[bool], None] = lambda _: None, name: str = "render"):
        super().__init__(name=name, daemon=True)
        self._camera, self._aspect, self._render, self._send = camera, aspect, render, send
        self._prepare = prepare
        self._resolution, self._max_resolution = resolution, max_resolution
        self._field_version, self._refresh_interval, self._busy = field_version, refresh_interval, busy
        self._wake = threading.Event()  # camera moved or a setting changed
        self._stopped = threading.Event()
        self._needs_full = False
        self.started_at = time.perf_counter()
        self.first_frame_seconds: float | None = None
        self.frames_sent = 0
        self.last_frame_size: tuple[int, int] | None = None
        self.first_frame_size: tuple[int, int] | None = None
        self.last_full_seconds = 0.0
        self._last_full_at = 0.0
        self._last_full_version = None
        self.errors = 0

    # ------------------------------------------------------------ called from other threads
    def request_render(self) -> None:
        """The camera moved or a render setting changed: a fresh frame is wanted, the one in flight is stale."""
        self._wake.set()

    def request_full_frame(self) -> None:
        """The next frame is the full-resolution one, with no moving frame first: for a camera that is already at
        rest, such as a browser that has just connected (its first picture should be sharp, not a blocky one).
        Call it before :meth:`start`."""
        self._needs_full = True

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        while not self._stopped.is_set():
            woke = self._wake.wait(timeout=REST_SECONDS)
            if self._stopped.is_set():
                break
            if woke:
                self._wake.clear()
                self._frame(moving=True)
                self._needs_full = True
            elif self._needs_full or self._refresh_due():
                self._needs_full = not self._frame(moving=False)

    def _refresh_due(self) -> bool:
        if self._field_version() == self._last_full_version:
            return False
        return time.perf_counter() - self._last_full_at >= self._refresh_interval(self.last_full_seconds)

    def _frame(self, moving: bool) -> bool:
        """Renders and sends one frame. True when a frame went out (or there is nothing to render yet)."""
        aspect = self._aspect()
        if not aspect or aspect <= 0:
            return False
        version = self._field_version()
        # A moving frame is cheap and always finished; a full one is dropped as soon as the camera moves.
        should_stop = (lambda: self._stopped.is_set()) if moving else self._wake.is_set
        self._busy(True)
        try:
            path = self._prepare(moving)  # before the timing: a bake must not count as render speed
            max_resolution = self._max_resolution()
            size = (self._resolution.moving_size(aspect, max_resolution, path) if moving
                    else self._resolution.static_size(aspect, max_resolution))
            camera = self._camera(*size)
            if camera is None:
                return False
            start = time.perf_counter()
            image = self._render(camera, should_stop, path)
            seconds = time.perf_counter() - start
            self._send(image, moving)
        except RenderInterrupted:
            return False
        except Exception:  # a closing browser or a broken frame must not end the loop (or the training)
            self.errors += 1
            if self.errors <= 3:
                traceback.print_exc()
            return False
        finally:
            self._busy(False)
        self._resolution.observe(size[0] * size[1], seconds, path)
        if not moving:
            self.last_full_seconds, self._last_full_at = seconds, time.perf_counter()
            self._last_full_version = version
        self.frames_sent += 1
        self.last_frame_size = size
        if self.first_frame_seconds is None:
            self.first_frame_seconds = time.perf_counter() - self.started_at
            self.first_frame_size = size
        return True
