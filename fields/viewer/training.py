"""The viewer's side of a training run: a lock that renders and steps share, pause/resume, a "training share"
of the machine, checkpoint requests, and the latest training statistics."""
import threading
import time

from fields.run.callbacks import TrainingCallbacks


class TrainingLink(TrainingCallbacks):
    def __init__(self, share: float = 0.8):
        self.lock = threading.Lock()
        self.share = share  # fraction of time training gets while a browser is rendering
        self.stats: dict = {"step": 0}
        self.step = 0
        self.finished = False
        self._running = threading.Event()
        self._running.set()
        self._save_requested = threading.Event()
        self._render_demand = 0  # render threads working on a frame
        self._demand_lock = threading.Lock()
        self.on_stats = lambda stats: None  # set by the viewer

    # ------------------------------------------------------------ viewer side
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_save(self) -> None:
        """The next step boundary (also while paused) writes a checkpoint."""
        self._save_requested.set()

    def render_busy(self, busy: bool) -> None:
        with self._demand_lock:
            self._render_demand += 1 if busy else -1

    def refresh_interval(self, render_seconds: float) -> float:
        """Seconds between re-renders of a resting view while training changes the field, so that renders take
        about (1 - share) of the time."""
        share = min(max(self.share, 0.05), 0.95)
        return max(0.5, render_seconds * share / (1.0 - share))

    # ------------------------------------------------------------ trainer side
    def step_guard(self):
        return self.lock

    def on_step(self, trainer, stats: dict) -> None:
        self.step = stats["step"]
        self.stats = {**self.stats, **stats}
        self.on_stats(self.stats)
        if self._render_demand > 0 and "step_seconds" in stats:
            # Leave the lock free for a while so that renders get their share of the machine.
            share = min(max(self.share, 0.05), 1.0)
            time.sleep(stats["step_seconds"] * (1.0 - share) / share)
        self._save_if_requested(trainer)
        while not self._running.wait(timeout=0.1):
            self._save_if_requested(trainer)

    def _save_if_requested(self, trainer) -> None:
        if self._save_requested.is_set():
            self._save_requested.clear()
            trainer.save()
            self.stats = {**self.stats, "saved": str(trainer.checkpoint_path), "saved_step": trainer.step}
            self.on_stats(self.stats)


def attach_viewer(trainer, link: TrainingLink, host: str = "127.0.0.1", port: int = 7007, **options):
    """A :class:`~fields.viewer.server.Viewer` of ``trainer``'s field, its training cameras, the scene's SfM points
    and controls (``options``: more Viewer arguments, e.g. max_resolution)."""
    from fields.viewer.points import scene_points
    from fields.viewer.server import Viewer

    c = trainer.config
    points = scene_points(trainer.scene_path, trainer.train_data.source_to_world)
    return Viewer(trainer.field, trainer.grid, cameras=trainer.train_data, points=points, training=link,
                  host=host, port=port,
                  render_options={"render_step_size": c.render_step_size, "cone_angle": c.cone_angle},
                  output_dir=trainer.output / "viewer", **options)
