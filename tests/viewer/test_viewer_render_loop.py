import time

import numpy as np
import pytest

from fields.render.camera import PinholeCamera
from fields.viewer.render_loop import ClientRenderLoop, ResolutionControl
from fields.viewer.renderers import RenderInterrupted

from viewer_helpers import wait_for


def test_moving_frames_follow_the_ray_budget():
    control = ResolutionControl(target_fps=10.0, rays_per_second=100_000.0)
    assert control.moving_size(1.0, 512) == (100, 100)  # 10k rays per frame
    width, height = control.moving_size(2.0, 512)
    assert height == 70 and width == 140
    assert control.moving_size(1.0, 64) == (64, 64)  # never above the cap
    control.target_fps = 1000.0
    assert control.moving_size(1.0, 512)[1] == 24  # never below the minimum
    assert control.static_size(1.5, 600) == (600, 400) and control.static_size(0.5, 600) == (300, 600)


def test_measured_speed_moves_the_estimate():
    control = ResolutionControl(rays_per_second=100_000.0, smoothing=0.5)
    control.observe(200_000, 1.0)
    assert control.rays_per_second() == pytest.approx(150_000.0)
    control.observe(100, 1.0)  # too small to say anything
    assert control.rays_per_second() == pytest.approx(150_000.0)


class FakeBrowser:
    def __init__(self, render_seconds=0.0, fail_sends=0):
        self.frames, self.render_seconds, self.fail_sends = [], render_seconds, fail_sends
        self.started, self.interrupted = 0, 0

    def camera(self, width, height):
        return PinholeCamera.from_fov(np.eye(4), width, height, 50.0)

    def render(self, camera, should_stop, path):
        self.started += 1
        deadline = time.perf_counter() + self.render_seconds
        while time.perf_counter() < deadline:
            if should_stop():
                self.interrupted += 1
                raise RenderInterrupted()
            time.sleep(0.005)
        return np.zeros((camera.height, camera.width, 3), np.uint8)

    def send(self, image, moving):
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("browser went away")
        self.frames.append((image.shape, moving))


def make_loop(browser, version=lambda: 0, interval=lambda _: 1e9):
    control = ResolutionControl(target_fps=10.0, rays_per_second=40_000.0)
    return ClientRenderLoop(camera=browser.camera, aspect=lambda: 1.0, render=browser.render, send=browser.send,
                            resolution=control, max_resolution=lambda: 300, field_version=version,
                            refresh_interval=interval)


def test_a_move_gives_a_small_frame_then_the_full_one_at_rest():
    browser = FakeBrowser()
    loop = make_loop(browser)
    loop.start()
    try:
        loop.request_render()
        assert wait_for(lambda: len(browser.frames) >= 2, 5.0)
        assert browser.frames[0] == ((63, 63, 3), True)  # 40k rays/s / 10 fps = 4000 rays
        assert browser.frames[1] == ((300, 300, 3), False)
        assert loop.first_frame_seconds is not None and loop.frames_sent == 2
        time.sleep(0.5)
        assert len(browser.frames) == 2  # a resting, unchanged view is not rendered again
    finally:
        loop.stop()
        loop.join(2.0)
    assert not loop.is_alive()


def test_a_stale_full_frame_is_interrupted_by_a_move():
    browser = FakeBrowser(render_seconds=0.6)
    loop = make_loop(browser)
    loop.start()
    try:
        loop.request_render()
        # The moving frame (0.6 s) goes out, then the full frame starts; move the camera during it.
        assert wait_for(lambda: browser.started == 2, 5.0)
        time.sleep(0.1)
        loop.request_render()
        assert wait_for(lambda: browser.interrupted == 1, 2.0)
        assert wait_for(lambda: len(browser.frames) >= 3, 5.0)
        assert [moving for _, moving in browser.frames[:3]] == [True, True, False]
    finally:
        loop.stop()
        loop.join(2.0)


def test_a_failing_browser_does_not_end_the_loop(capsys):
    browser = FakeBrowser(fail_sends=1)
    loop = make_loop(browser)
    loop.start()
    try:
        loop.request_render()
        assert wait_for(lambda: len(browser.frames) >= 1, 5.0)  # the full frame after the failed moving one
        assert loop.errors == 1 and loop.is_alive()
    finally:
        loop.stop()
        loop.join(2.0)
    assert "browser went away" in capsys.readouterr().err


def test_training_progress_refreshes_a_resting_view():
    browser = FakeBrowser()
    step = {"value": 0}
    loop = make_loop(browser, version=lambda: step["value"], interval=lambda _: 0.2)
    loop.start()
    try:
        loop.request_render()
        assert wait_for(lambda: len(browser.frames) == 2, 5.0)
        time.sleep(0.4)
        assert len(browser.frames) == 2  # no training step: nothing new to show
        step["value"] = 1
        assert wait_for(lambda: len(browser.frames) == 3, 5.0)
        assert browser.frames[2][1] is False
    finally:
        loop.stop()
        loop.join(2.0)
