"""Screenshot of the viewer as a browser first shows it: serves a checkpoint as apps/view.py does, opens it in
headless Chromium, waits for the full-resolution frame and saves the page (how docs/images/viewer.png is made).

    python tests/viewer/screenshot.py --checkpoint RUN --output docs/images/viewer.png
"""
import argparse
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import Chromium, find_chromium  # noqa: E402

FADE_IN_SECONDS = 2.0  # the page fades a new background frame in (and a closed notice out)


def screenshot(checkpoint: Path, output: Path, width: int, height: int, timeout: float, colors: int) -> None:
    from fields.viewer import Viewer
    from fields.viewer.loading import load_viewer_input
    from fields.viewer.server import free_port

    if find_chromium() is None:
        raise SystemExit("error: no chromium on PATH (scripts/test.sh installs Debian's chromium)")
    loaded = load_viewer_input(checkpoint)
    viewer = Viewer(loaded.field, loaded.grid, render_options=loaded.meta.get("render"), cameras=loaded.cameras,
                    points=loaded.points, output_dir=loaded.run_dir / "viewer", port=free_port("127.0.0.1"),
                    verbose=False)
    browser = Chromium(width, height)
    try:
        start = time.perf_counter()
        browser.open(viewer.url)
        while not any(loop.last_full_seconds for loop in viewer.loops.values()):
            if time.perf_counter() - start > timeout:
                raise SystemExit(f"error: no full-resolution frame within {timeout:.0f} s")
            time.sleep(0.2)
        loop = next(iter(viewer.loops.values()))
        print(f"first frame after {loop.first_frame_seconds:.1f} s ({loop.frames_sent} frames sent, the last "
              f"{loop.last_frame_size[0]} x {loop.last_frame_size[1]}, rendered in {loop.last_full_seconds:.1f} s)")
        # Headless Chromium has no GPU: the page's "software WebGL" notice would cover part of the scene.
        browser.evaluate("document.querySelectorAll('.mantine-Notification-closeButton').forEach(b => b.click())")
        time.sleep(FADE_IN_SECONDS)
        raw = browser.screenshot(output.with_suffix(".raw.png"))
    finally:
        browser.close()
        viewer.close()
    # A palette keeps the picture small enough for the repository without visible loss on a rendered scene.
    Image.open(raw).convert("RGB").quantize(colors, method=Image.Quantize.MEDIANCUT).save(output, optimize=True)
    raw.unlink()
    print(f"saved {output} ({output.stat().st_size / 1e3:.0f} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint or its run folder")
    parser.add_argument("--output", type=Path, default=Path("docs/images/viewer.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the full frame")
    parser.add_argument("--colors", type=int, default=256, help="palette size of the saved PNG")
    args = parser.parse_args()
    screenshot(args.checkpoint, args.output, args.width, args.height, args.timeout, args.colors)


if __name__ == "__main__":
    main()
