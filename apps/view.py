"""Live browser viewer of a trained field (radiance, SDF or image), rendered for each browser's camera.

    python apps/view.py --checkpoint outputs/lego/hash/<run>/checkpoints/latest.safetensors
    python apps/view.py --checkpoint outputs/lego/hash/<run> --port 7010
    python apps/view.py --checkpoint RUN --host 0.0.0.0      # reachable from other machines (only when asked)
"""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fields.run import resolve_device, run_app, user_errors


@dataclass
class ViewConfig:
    checkpoint: Path
    """A checkpoint written by apps/train_*.py, or its run folder."""
    host: str = "127.0.0.1"
    """Interface to listen on; 0.0.0.0 serves other machines too."""
    port: int = 7007
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_resolution: int = 512
    """Long side of a resting frame, in pixels (a slider in the viewer)."""
    target_fps: float = 10.0
    """Frame rate the moving-camera resolution aims for."""
    max_frustums: int = 64
    """Training cameras shown (evenly spaced)."""
    cameras: bool = True
    """Show the training cameras of the checkpoint's scene and its SfM points (sparse_pc.ply), when found."""
    preview_resolution: int = 128
    """Radiance fields: moving frames render a bake of the field at this many vertices per axis."""


def main(config: ViewConfig) -> int:
    from fields.viewer import Viewer, ViewerError, check_port
    from fields.viewer.loading import load_viewer_input

    with user_errors(ViewerError, ValueError):
        device = resolve_device(config.device)
        check_port(config.host, config.port)  # before the (slow) loading, so a busy port fails fast
        loaded = load_viewer_input(config.checkpoint, device, with_cameras=config.cameras)
        viewer = Viewer(loaded.field, loaded.grid, render_options=loaded.meta.get("render"), cameras=loaded.cameras,
                        points=loaded.points, host=config.host, port=config.port,
                        max_resolution=config.max_resolution, target_fps=config.target_fps,
                        max_frustums=config.max_frustums,
                        output_dir=loaded.run_dir / "viewer", preview_resolution=config.preview_resolution,
                        normalization=loaded.meta.get("normalization"))
    preview = getattr(viewer.renderer, "preview", None)
    if preview is not None:
        print(f"moving-frame preview baked once at {preview.resolution}³ in {preview.seconds:.1f} s "
              f"({preview.evaluated / preview.resolution ** 3:.0%} of the grid near occupied cells)")
    if loaded.points is not None:
        print(f"showing {len(loaded.points.points)} of the {loaded.points.total} SfM points of {loaded.points.path}")
    print(f"showing {loaded.checkpoint} (step {loaded.meta.get('step', '?')}); Ctrl+C to quit")
    try:
        while True:
            time.sleep(3600)
    finally:
        viewer.close()


if __name__ == "__main__":
    run_app(main, ViewConfig, __doc__)
