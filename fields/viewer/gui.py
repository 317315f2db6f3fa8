"""The viewer's control panel: render settings, field facts, training controls and statistics, scene toggles
(box, training cameras and their thumbnails, SfM points), mesh export and camera-path recording. Every control
calls into the :class:`~fields.viewer.server.Viewer`."""
import threading
import time
from pathlib import Path


class Gui:
    def __init__(self, viewer):
        self.viewer = viewer
        gui = viewer.server.gui
        self._stats_shown_at = 0.0
        self._stats_lock = threading.Lock()
        field = viewer.field
        aabb = ", ".join(f"{v:.2f}" for v in field.aabb.tolist())
        with gui.add_folder("Field"):
            gui.add_markdown(f"**{field.signal}** field, type **{field.field_type}**  \n"
                             f"{field.num_parameters() / 1e6:.2f} M parameters, {field.size_mb():.1f} MB  \n"
                             f"scene box [{aabb}]")
        if field.signal != "image":
            self._render_controls(gui)
        if viewer.training is not None:
            self._training_controls(gui)
        if field.signal != "image":
            self._scene_controls(gui)
            self._export_controls(gui)
            self._camera_path_controls(gui)

    # ------------------------------------------------------------ render
    def _render_controls(self, gui) -> None:
        viewer = self.viewer
        with gui.add_folder("Render"):
            self.mode = gui.add_dropdown("Render mode", viewer.renderer.modes, initial_value=viewer.mode)
            self.max_resolution = gui.add_slider("Max resolution", 32, 2048, 32, viewer.max_resolution,
                                                 hint="long side of the frame once the camera rests")
            self.target_fps = gui.add_slider("Target fps (moving)", 2.0, 60.0, 1.0, viewer.resolution.target_fps,
                                             hint="the moving frame's size follows measured rays/s and this rate")
            if viewer.field.signal == "radiance":
                self.fast_preview = gui.add_checkbox(
                    "Fast preview while moving", viewer.renderer.fast_preview,
                    hint="render moving frames from a baked grid of the field (re-baked as training changes it); "
                         "the resting frame always renders the field itself")

                @self.fast_preview.on_update
                def _(_) -> None:
                    viewer.renderer.fast_preview = self.fast_preview.value
                    viewer.rerender()
            self.render_info = gui.add_markdown(self._render_info())

        @self.mode.on_update
        def _(_) -> None:
            viewer.mode = self.mode.value
            viewer.rerender()

        @self.max_resolution.on_update
        def _(_) -> None:
            viewer.max_resolution = int(self.max_resolution.value)
            viewer.rerender()

        @self.target_fps.on_update
        def _(_) -> None:
            viewer.resolution.target_fps = float(self.target_fps.value)

    def _render_info(self, size: tuple[int, int] | None = None) -> str:
        resolution = self.viewer.resolution
        text = f"render speed: {resolution.rays_per_second('field') / 1e3:.0f} k rays/s"
        if getattr(self.viewer.renderer, "preview", None) is not None:
            text += f", preview {resolution.rays_per_second('preview') / 1e3:.0f} k rays/s"
        return text + (f", last full frame {size[0]} x {size[1]}" if size else "")

    def show_render_speed(self, width: int, height: int) -> None:
        self.render_info.content = self._render_info((width, height))

    # ------------------------------------------------------------ training
    def _training_controls(self, gui) -> None:
        training = self.viewer.training
        with gui.add_folder("Training"):
            self.stats = gui.add_markdown("waiting for the first step")
            self.pause = gui.add_button("Pause training")
            self.share = gui.add_slider("Training share", 0.05, 1.0, 0.05, training.share,
                                        hint="fraction of the machine training keeps while a browser renders")
            self.save = gui.add_button("Save checkpoint")

        @self.pause.on_click
        def _(_) -> None:
            if training.paused:
                training.resume()
                self.pause.label = "Pause training"
            else:
                training.pause()
                self.pause.label = "Resume training"

        @self.share.on_update
        def _(_) -> None:
            training.share = float(self.share.value)

        @self.save.on_click
        def _(_) -> None:
            training.request_save()

    def show_training_stats(self, stats: dict, min_interval: float = 0.25) -> None:
        """Called by the training thread after each step; updates the panel at most 4 times a second."""
        now = time.perf_counter()
        if now - self._stats_shown_at < min_interval and "saved" not in stats:
            return
        self._stats_shown_at = now
        lines = [f"step **{stats['step']}**" + (" (paused)" if self.viewer.training.paused else "")]
        if "loss" in stats:
            lines.append(f"loss {stats['loss']:.4f}, PSNR {stats['psnr']:.2f} dB")
            lines.append(f"{stats['rays_per_second'] / 1e3:.1f} k training rays/s")
        if "saved" in stats:
            lines.append(f"saved step {stats['saved_step']} to `{stats['saved']}`")
        with self._stats_lock:
            self.stats.content = "  \n".join(lines)

    # ------------------------------------------------------------ scene
    def _scene_controls(self, gui) -> None:
        viewer = self.viewer
        with gui.add_folder("Scene"):
            self.show_box = gui.add_checkbox("Show scene box", True)
            self.show_cameras = gui.add_checkbox("Show training cameras", True, disabled=not viewer.frustums,
                                                 hint=f"click a camera to jump to it (at most {viewer.max_frustums})")
            self.show_thumbnails = gui.add_checkbox("Camera thumbnails", False, disabled=not viewer.frustums,
                                                    hint="each training image on its camera")
            points = viewer.points
            self.show_points = gui.add_checkbox(
                "SfM points", points is not None, disabled=points is None,
                hint=(f"{len(points.points)} of the {points.total} points of {points.path.name}" if points else
                      "the scene has no point cloud (sparse_pc.ply, or ply_file_path in transforms.json)"))

        @self.show_box.on_update
        def _(_) -> None:
            viewer.box_handle.visible = self.show_box.value

        @self.show_cameras.on_update
        def _(_) -> None:
            for handle in viewer.frustums:
                handle.visible = self.show_cameras.value

        @self.show_thumbnails.on_update
        def _(_) -> None:
            viewer.show_thumbnails(self.show_thumbnails.value)

        @self.show_points.on_update
        def _(_) -> None:
            if viewer.points_handle is not None:
                viewer.points_handle.visible = self.show_points.value

    # ------------------------------------------------------------ export
    def _export_controls(self, gui) -> None:
        viewer = self.viewer
        with gui.add_folder("Export"):
            self.mesh_resolution = gui.add_slider("Mesh resolution", 64, 512, 32, 256)
            self.export = gui.add_button("Export mesh")
            self.export_status = gui.add_markdown("")

        def done(message: str) -> None:
            self.export_status.content = message
            self.export.disabled = False

        @self.export.on_click
        def _(event) -> None:
            if viewer.export_mesh(event.client, int(self.mesh_resolution.value), done):
                self.export.disabled = True
                self.export_status.content = "exporting in the background..."

    # ------------------------------------------------------------ camera paths
    def _camera_path_controls(self, gui) -> None:
        viewer = self.viewer
        with gui.add_folder("Camera path"):
            self.add_keyframe = gui.add_button("Add keyframe (current view)")
            self.clear_keyframes = gui.add_button("Clear keyframes")
            self.path_file = gui.add_text("File", str(viewer.output_dir / "camera_path.json"))
            self.save_path = gui.add_button("Save camera path")
            self.path_status = gui.add_markdown("0 keyframes")

        @self.add_keyframe.on_click
        def _(event) -> None:
            self.path_status.content = f"{viewer.add_keyframe(event.client)} keyframes"

        @self.clear_keyframes.on_click
        def _(_) -> None:
            viewer.keyframes.clear()
            self.path_status.content = "0 keyframes"

        @self.save_path.on_click
        def _(_) -> None:
            try:
                path = viewer.save_camera_path(Path(self.path_file.value))
                self.path_status.content = f"{len(viewer.keyframes)} keyframes saved to `{path}`"
            except (ValueError, OSError) as error:
                self.path_status.content = f"not saved: {error}"
