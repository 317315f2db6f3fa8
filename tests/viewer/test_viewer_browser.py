"""End to end: the viewer page in headless Chromium shows the rendered field."""
import numpy as np
import pytest
from PIL import Image

from fields.viewer import Viewer

from chromium import Chromium, find_chromium
from viewer_helpers import red_pixels, wait_for

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no chromium on PATH (scripts/test.sh installs Debian's chromium)")


def test_the_browser_shows_the_rendered_field(red_sphere, free_port, tmp_path):
    field, grid = red_sphere
    viewer = Viewer(field, grid, port=free_port, max_resolution=256, output_dir=tmp_path, verbose=False)
    browser = Chromium(1200, 800)
    try:
        browser.open(viewer.url)
        # Ready when the browser's render thread has sent a full-resolution frame of the latest camera.
        assert wait_for(lambda: any(loop.last_frame_size and max(loop.last_frame_size) == 256
                                    for loop in viewer.loops.values()), 60.0), "no full frame was rendered"
        loop = next(iter(viewer.loops.values()))
        assert loop.first_frame_seconds < 2.0

        def screenshot_shows_the_sphere():
            nonlocal shot
            shot = np.asarray(Image.open(browser.screenshot(tmp_path / "viewer.png")).convert("RGB"))
            centre = shot[300:500, 450:750]
            return red_pixels(centre) > 0.5 * centre.shape[0] * centre.shape[1]

        shot = None
        # The page fades the scene in: take screenshots until the frame is fully shown (or give up).
        shown = wait_for(screenshot_shows_the_sphere, 30.0, interval=0.5)
    finally:
        browser.close()
        viewer.close()
    assert shown, "the page never showed the rendered sphere at its centre"
    # The page opened on the full-resolution frame of its first view: no blocky moving frame came before it.
    assert loop.first_frame_size is not None and max(loop.first_frame_size) == 256
    assert shot.shape == (800, 1200, 3)
    # The default view looks at the sphere in the middle of the box: a red disc at the centre of the page.
    red = (shot[..., 0] > 140) & (shot[..., 1] < 110) & (shot[..., 2] < 110)
    ys, xs = np.nonzero(red)
    row, column = int(np.median(ys)), int(np.median(xs))
    width, height = red[row].sum(), red[:, column].sum()
    assert abs(width - height) <= 0.05 * height  # a disc, not an ellipse: the frame's aspect matches the page
