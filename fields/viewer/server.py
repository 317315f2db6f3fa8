"""The live viewer: a viser server that renders a field for each connected browser, with its GUI and scene
(scene box, training-camera frustums, the capture's SfM points), optional links to a running training, mesh export
and camera paths."""
import contextlib
import copy
import errno
import math
import socket
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from fields.datasets import composite_background
from fields.export.camera_path import CameraPath, look_at, save_camera_path
from fields.render.camera import PinholeCamera
from fields.viewer.cameras import BrowserView, c2w_from_viser, view_of, viser_from_c2w
from fields.viewer.gui import Gui
from fields.viewer.preview_bake import training_view_directions
from fields.viewer.render_loop import ClientRenderLoop, ResolutionControl
from fields.viewer.renderers import ImageRenderer, make_renderer

WARM_UP_SIZE = 32  # a first frame rendered before serving: loads kernels and measures rays/s
# Scene markers are sized by the cameras' distance to the scene, so that they stay small beside the object whatever
# the capture's units: frustums a few % of that distance deep, SfM points a fraction of a percent wide.
FRUSTUM_SCALE = 0.04
POINT_SIZE = 0.004
FRUSTUM_COLOR = (40, 80, 160)
THUMBNAIL_HEIGHT = 48  # pixels: many thumbnails stay cheap to send
SETTLE_SECONDS = 2.0  # a connecting browser's camera reports are stale this long, unless it shows the opening view


class ViewerError(ValueError):
    """The viewer cannot start (a bad checkpoint, a port in use); the message says what to do."""


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port(host: str, port: int) -> None:
    """Raises :class:`ViewerError` naming the port and a free alternative when ``port`` is taken, and naming the
    host or port when it is not one this machine can listen on."""
    if not 0 < port < 65536:
        raise ViewerError(f"port {port} is out of range; pass a port from 1 to 65535, e.g. 7007")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will; ignores TIME_WAIT
        try:
            probe.bind((host, port))
        except socket.gaierror as error:
            raise ViewerError(f"cannot listen on host {host!r} ({error.strerror}); pass an address of this machine, "
                              f"e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise ViewerError(f"{host} is not an address of this machine ({error.strerror}); pass 127.0.0.1 or "
                                  f"0.0.0.0") from None
            raise ViewerError(f"port {port} on {host} is already in use ({error.strerror}); "
                              f"pass another one, e.g. --port {free_port(host)}") from None


def box_edges(aabb) -> np.ndarray:
    """[12, 2, 3] segments of the box's edges."""
    lo, hi = np.asarray(aabb[:3], np.float32), np.asarray(aabb[3:], np.float32)
    corners = np.array([[(hi if i >> k & 1 else lo)[k] for k in range(3)] for i in range(8)], np.float32)
    pairs = [(i, i | 1 << k) for i in range(8) for k in range(3) if not i >> k & 1]
    return np.stack([corners[[a, b]] for a, b in pairs])


class Viewer:
    """Serves ``field`` (any signal) at http://host:port. ``cameras`` (a SceneData, optional) gives the training
    frustums and the initial view; ``points`` (a :class:`~fields.viewer.points.PointCloud` in world coordinates,
    optional) the capture's SfM points; ``training`` (a TrainingLink, optional) connects a running trainer;
    ``output_dir`` receives exported meshes and camera paths. ``normalization``: an SDF checkpoint's
    meta["normalization"], so that exported meshes are in the original mesh coordinates, as apps/export_mesh.py
    writes them. A radiance field's moving frames come from a bake of it at ``preview_resolution``³ (see
    :class:`~fields.viewer.renderers.RadianceRenderer`)."""

    def __init__(self, field, grid=None, *, render_options: dict | None = None, cameras=None, points=None,
                 training=None, host: str = "127.0.0.1", port: int = 7007, max_resolution: int = 512,
                 target_fps: float = 10.0, max_frustums: int = 64, output_dir: Path = Path("outputs/viewer"),
                 preview_resolution: int = 128, normalization: dict | None = None, verbose: bool = True):
        import viser  # the viewer is the only user of viser: importing fields does not need it

        check_port(host, port)
        if preview_resolution < 2:
            raise ViewerError(f"the preview needs at least 2 vertices per axis; pass --preview-resolution 2 or "
                              f"more (128 is the default), not {preview_resolution}")
        self.field, self.grid, self.cameras, self.training = field, grid, cameras, training
        self.points = points
        self.frustum_cameras: list[int] = []  # the training camera of each frustum
        preview = {}
        if field.signal == "radiance":
            preview["preview_resolution"] = preview_resolution
            if cameras is not None:
                preview["preview_directions"] = training_view_directions(cameras.c2w)
        self.renderer = make_renderer(field, grid, render_options, **preview)
        self.output_dir = Path(output_dir)
        self.normalization = normalization
        self.max_resolution, self.max_frustums = max_resolution, max_frustums
        self.mode = "rgb"
        self.resolution = ResolutionControl(target_fps)
        self.loops: dict[int, ClientRenderLoop] = {}
        self.keyframes: list[dict] = []
        self._export_thread: threading.Thread | None = None
        self._default_c2w, self._default_fov = self._default_view()
        if not isinstance(self.renderer, ImageRenderer):
            self._warm_up()

        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.url = f"http://{host}:{self.server.get_port()}"
        self._setup_scene()
        self.gui = Gui(self)
        if training is not None:
            training.on_stats = self.gui.show_training_stats
        self.server.on_client_connect(self._connect)
        self.server.on_client_disconnect(self._disconnect)
        if verbose:
            print(f"viewer: open {self.url} in a browser"
                  + ("" if host in ("127.0.0.1", "localhost") else " (listening on every interface)"))

    # ------------------------------------------------------------ scene
    OPENING_CAMERA = 0  # the training camera the browser opens at: a view the field was fitted to

    def _default_view(self) -> tuple[np.ndarray, float]:
        """(OpenGL c2w, vertical fov in degrees): a training camera, else a view of the box."""
        if self.cameras is not None:
            index = self.OPENING_CAMERA
            return self.cameras.c2w[index].numpy().astype(np.float64), math.degrees(self._training_fov(index))
        if self.field.signal == "image":
            eye, up = np.array([0.0, 0.0, 2.6]), np.array([0.0, 1.0, 0.0])
            center = np.zeros(3)
        else:
            aabb = self.field.aabb.cpu().numpy().astype(np.float64)
            center, extent = (aabb[:3] + aabb[3:]) / 2, np.linalg.norm(aabb[3:] - aabb[:3])
            eye, up = center + extent * np.array([0.55, -0.75, 0.45]), np.array([0.0, 0.0, 1.0])
            if self.field.signal == "sdf":
                eye, up = center + extent * np.array([0.55, 0.45, 0.75]), np.array([0.0, 1.0, 0.0])
        return look_at(eye, center, up), 40.0

    def _training_fov(self, index: int) -> float:
        """Vertical field of view of a training camera, in radians."""
        return 2 * math.atan(0.5 * self.cameras.height / float(self.cameras.intrinsics[index, 1]))

    def _warm_up(self) -> None:
        """Measures the speed of each render path (a radiance field's preview is baked here, once for a
        checkpoint; a training field's is re-baked as it changes)."""
        from fields.render.camera import PinholeCamera

        camera = PinholeCamera.from_fov(self._default_c2w, WARM_UP_SIZE, WARM_UP_SIZE, self._default_fov)
        measured = set()
        # The field's path first: its first render pays one-time set-up costs, which the bake's time should not.
        for moving in (False, True):
            path = self.renderer.prepare(moving, guard=self.field_guard, version=self.field_version())
            if path in measured:
                continue
            measured.add(path)
            # A path's first render pays its one-time set-up costs; its speed is measured on the second.
            self.renderer.render(camera.resized(8, 8), "rgb", guard=self.field_guard, path=path)
            start = time.perf_counter()
            self.renderer.render(camera, "rgb", guard=self.field_guard, path=path)
            seconds = time.perf_counter() - start
            self.resolution.set_rays_per_second(path, WARM_UP_SIZE * WARM_UP_SIZE / max(seconds, 1e-6))

    def _setup_scene(self) -> None:
        scene = self.server.scene
        c2w = self._default_c2w
        up = c2w[:3, 1]
        if self.cameras is not None:
            up = self.cameras.c2w[:, :3, 1].mean(0).numpy()
        scene.set_up_direction(tuple(float(v) for v in up / np.linalg.norm(up)))
        aabb = self.field.aabb.cpu().numpy()
        center = np.zeros(3) if self.field.signal == "image" else (aabb[:3] + aabb[3:]) / 2
        distance = float(np.dot(center - c2w[:3, 3], -c2w[:3, 2]))
        # (position, look-at point, vertical fov in radians): the browser orbits around the point of the view
        # axis nearest to the scene's centre.
        self.opening_view = (tuple(c2w[:3, 3]), tuple(c2w[:3, 3] - c2w[:3, 2] * max(distance, 0.1)),
                             math.radians(self._default_fov))
        camera = self.server.initial_camera
        camera.position, camera.look_at, camera.fov = self.opening_view
        if isinstance(self.renderer, ImageRenderer):
            texture = self.renderer.texture()
            aspect = texture.shape[1] / texture.shape[0]
            scene.add_image("/image_field", texture, render_width=2.0 * aspect, render_height=2.0,
                            format="png")
            self.box_handle = None
        else:
            self.box_handle = scene.add_line_segments("/scene_box", box_edges(aabb), (230, 120, 20),
                                                      thickness=2.0, thickness_units="screen")
        self.frustums = self._add_frustums() if self.cameras is not None else []
        self.points_handle = None
        if self.points is not None:
            self.points_handle = scene.add_point_cloud(
                "/sfm_points", self.points.points, self.points.colors, point_size=POINT_SIZE * self.scene_scale(),
                point_shape="circle")

    def scene_scale(self) -> float:
        """How far the training cameras are from the scene box's centre (median), else the box's diagonal: the
        length scene markers are sized by."""
        aabb = self.field.aabb.cpu().numpy().astype(np.float64)
        centre = (aabb[:3] + aabb[3:]) / 2
        if self.cameras is None:
            return float(np.linalg.norm(aabb[3:] - aabb[:3]))
        distances = np.linalg.norm(self.cameras.c2w[:, :3, 3].numpy() - centre, axis=1)
        return max(float(np.median(distances)), 1e-6)

    def _add_frustums(self) -> list:
        """Small wireframe frustums of at most ``max_frustums`` evenly spaced training cameras, without images
        (:meth:`show_thumbnails` adds them), so that they do not hide the scene. The opening camera has none: the
        browser opens inside it, where its frustum would be a frame around the view."""
        cams = self.cameras
        others = np.delete(np.arange(cams.num_images), self.OPENING_CAMERA)
        count = min(len(others), self.max_frustums)
        indices = others[np.unique(np.linspace(0, len(others) - 1, count).round().astype(int))] if count else []
        fov = self._training_fov(0)
        scale = FRUSTUM_SCALE * self.scene_scale()
        handles = []
        for index in indices:
            wxyz, position = viser_from_c2w(cams.c2w[index].numpy())
            handle = self.server.scene.add_camera_frustum(
                f"/training_cameras/{index}", fov=fov, aspect=cams.width / cams.height, scale=scale,
                thickness=1.0, thickness_units="screen", color=FRUSTUM_COLOR, wxyz=wxyz, position=position,
                format="jpeg", jpeg_quality=70)  # how thumbnails travel, once shown
            handle.on_click(lambda event, i=int(index): self.jump_to_training_camera(event.client, i))
            handles.append(handle)
        self.frustum_cameras = [int(index) for index in indices]
        return handles

    def show_thumbnails(self, show: bool) -> None:
        """Puts each training image (about THUMBNAIL_HEIGHT px high) on its frustum, or takes them off."""
        stride = max(1, self.cameras.height // THUMBNAIL_HEIGHT) if self.cameras is not None else 1
        for handle, index in zip(self.frustums, self.frustum_cameras):
            if not show:
                handle.image = None
                continue
            on_white = composite_background(self.cameras.images[index, ::stride, ::stride].float() / 255.0, 1.0)
            handle.image = (on_white * 255.0).round().byte().numpy()

    def jump_to_training_camera(self, client, index: int) -> None:
        wxyz, position = viser_from_c2w(self.cameras.c2w[index].numpy())
        with client.atomic():
            client.camera.wxyz, client.camera.position, client.camera.fov = wxyz, position, self._training_fov(index)

    # ------------------------------------------------------------ browsers
    async def _connect(self, client) -> None:
        if isinstance(self.renderer, ImageRenderer):
            return  # the image is a textured plane in the scene: nothing to render per camera
        # The browser first reports a camera of its own and moves to the initial one a moment later: placed at the
        # opening view now, its first frame (full resolution) is of the view it is about to show.
        with client.atomic():
            client.camera.position, client.camera.look_at, client.camera.fov = self.opening_view
        training = self.training
        view = BrowserView(view_of(client.camera), SETTLE_SECONDS)
        loop = ClientRenderLoop(
            camera=view.camera,
            aspect=view.aspect,
            prepare=lambda moving: self.renderer.prepare(moving, guard=self.field_guard,
                                                         version=self.field_version()),
            render=lambda camera, should_stop, path: self.renderer.render(
                camera, self.mode, guard=self.field_guard, should_stop=should_stop, path=path),
            send=lambda image, moving: self._send(client, image, moving),
            resolution=self.resolution,
            max_resolution=lambda: self.max_resolution,
            field_version=self.field_version,
            refresh_interval=training.refresh_interval if training else (lambda _: math.inf),
            busy=training.render_busy if training else (lambda _: None),
            name=f"render-client-{client.client_id}")
        self.loops[client.client_id] = loop

        @client.camera.on_update
        async def _(camera) -> None:
            if view.report(view_of(camera)):
                loop.request_render()

        def settle() -> None:
            if client.client_id in self.loops and view.settle(view_of(client.camera)):
                loop.request_render()

        # A browser that just connected has a resting camera: its first picture is the full-resolution frame.
        loop.request_full_frame()
        loop.start()
        timer = threading.Timer(SETTLE_SECONDS, settle)
        timer.daemon = True
        timer.start()

    async def _disconnect(self, client) -> None:
        loop = self.loops.pop(client.client_id, None)
        if loop is not None:
            loop.stop()

    def _send(self, client, image: np.ndarray, moving: bool) -> None:
        if client.client_id not in self.loops:
            return  # the browser left while this frame was rendered
        # JPEG keeps moving frames small and fast; a resting view is sent lossless.
        if moving:
            client.scene.set_background_image(image, format="jpeg", jpeg_quality=40)
        else:
            client.scene.set_background_image(image, format="png")
            self.gui.show_render_speed(image.shape[1], image.shape[0])

    def field_version(self) -> int:
        """Changes whenever the field does: the training step (a checkpoint never changes)."""
        return self.training.step if self.training is not None else 0

    def field_guard(self):
        """Held while reading the field: the training lock when a trainer is attached."""
        return self.training.lock if self.training is not None else contextlib.nullcontext()

    def rerender(self) -> None:
        """A render setting changed: every browser gets a fresh frame."""
        for loop in list(self.loops.values()):
            loop.request_render()

    # ------------------------------------------------------------ actions behind the GUI
    def export_mesh(self, client, resolution: int, on_done) -> bool:
        """Starts a background mesh export (False when one is already running); ``on_done(message)`` reports."""
        if self._export_thread is not None and self._export_thread.is_alive():
            return False
        self._export_thread = threading.Thread(target=self._export_job, args=(client, resolution, on_done),
                                               name="export-mesh", daemon=True)
        self._export_thread.start()
        return True

    def _export_job(self, client, resolution: int, on_done) -> None:
        try:
            from fields.export.mesh import export_field_mesh  # lazy: export pulls in meshing libraries
        except ImportError as error:
            on_done(f"mesh export is not available in this install ({error})")
            return
        try:
            with self.field_guard():  # a snapshot, so that training goes on while the export runs
                field, grid = copy.deepcopy(self.field), copy.deepcopy(self.grid)
            step = self.training.step if self.training is not None else None
            name = f"mesh_{self.field.field_type}" + (f"_step{step}" if step is not None else "") + f"_{resolution}.ply"
            self.output_dir.mkdir(parents=True, exist_ok=True)
            result = export_field_mesh(field, self.output_dir / name, resolution=resolution, grid=grid,
                                       normalization=self.normalization)
            path = Path(result.path)
            if client is not None:
                client.send_file_download(path.name, path.read_bytes())
            on_done(f"exported {path} ({result.n_vertices} vertices, {result.n_faces} faces)")
        except Exception as error:  # reported in the GUI; the viewer and the training go on
            traceback.print_exc()
            on_done(f"mesh export failed: {error}")

    def add_keyframe(self, client) -> int:
        camera = client.camera
        self.keyframes.append({"camera_to_world": c2w_from_viser(camera.wxyz, camera.position),
                               "fov_y_degrees": math.degrees(camera.fov), "aspect": camera.aspect})
        return len(self.keyframes)

    def save_camera_path(self, path: Path) -> Path:
        if not self.keyframes:
            raise ViewerError("no keyframes yet: press 'add keyframe' at each view of the path first")
        width, height = self.resolution.static_size(self.keyframes[0]["aspect"], self.max_resolution)
        cameras = [PinholeCamera.from_fov(k["camera_to_world"], width, height, k["fov_y_degrees"])
                   for k in self.keyframes]
        return save_camera_path(path, CameraPath(cameras))

    def close(self) -> None:
        for loop in list(self.loops.values()):
            loop.stop()
        self.loops.clear()
        self.server.stop()
