import sys
import threading
import time
import types
from pathlib import Path

import pytest

from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer
from fields.viewer import TrainingLink

from viewer_helpers import ViserProtocolClient, wait_for
from fields.run import exit_code

SMALL_FIELD = {"log2_hashmap_size": 12, "finest_resolution": 64, "n_levels": 4}


def small_config(scene, tmp_path, **overrides):
    options = dict(scene=str(scene), device="cpu", max_steps=6, output=tmp_path / "run", progress=False,
                   val_views=0, eval_every=0, save_every=10**6, target_samples=1 << 11, grid_resolution=16,
                   field_options=SMALL_FIELD)
    return TrainNerfConfig(**(options | overrides))


class Recorder(TrainingLink):
    def __init__(self):
        super().__init__()
        self.reports, self.guarded = [], 0

    def step_guard(self):
        self.guarded += 1
        return super().step_guard()

    def on_step(self, trainer, stats):
        assert not self.lock.locked()  # the callback runs outside the step's lock
        self.reports.append(stats)
        super().on_step(trainer, stats)


def test_trainer_reports_every_step_to_its_callbacks(procedural_scene, tmp_path):
    link = Recorder()
    NerfTrainer(small_config(procedural_scene, tmp_path), callbacks=link).run()
    assert link.guarded == 6 and [r["step"] for r in link.reports] == list(range(1, 7))
    with_loss = [r for r in link.reports if "loss" in r]
    assert with_loss and all(r["psnr"] > 0 and r["rays_per_second"] > 0 for r in with_loss)
    assert link.step == 6


def test_pause_holds_training_and_save_works_while_paused(tmp_path):
    link = TrainingLink()
    saved = []
    trainer = types.SimpleNamespace(save=lambda: saved.append(1), checkpoint_path=tmp_path / "c", step=3)
    link.pause()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (link.on_step(trainer, {"step": 3}), done.set()))
    worker.start()
    time.sleep(0.3)
    assert not done.is_set()  # paused: the training thread waits
    link.request_save()
    assert wait_for(lambda: saved == [1], 2.0)
    assert link.stats["saved_step"] == 3
    link.resume()
    assert done.wait(2.0)
    worker.join()


def test_training_share_sets_the_refresh_pace():
    link = TrainingLink(share=0.5)
    assert link.refresh_interval(2.0) == pytest.approx(2.0)
    link.share = 0.8
    assert link.refresh_interval(2.0) == pytest.approx(8.0)
    assert link.refresh_interval(0.01) == 0.5


def test_a_browser_watches_a_paused_training_and_it_resumes(procedural_scene, tmp_path, free_port):
    from fields.datasets import load_scene
    from fields.viewer.training import attach_viewer

    link = TrainingLink()
    trainer = NerfTrainer(small_config(procedural_scene, tmp_path, max_steps=3), callbacks=link)
    viewer = attach_viewer(trainer, link, port=free_port, max_resolution=32)  # untrained: slow to render
    client = None
    try:
        link.pause()  # training stops after its first step until resumed
        runner = threading.Thread(target=trainer.run, daemon=True)
        runner.start()
        assert wait_for(lambda: link.step == 1, 60.0)
        client = ViserProtocolClient(free_port)
        client.send_camera(load_scene(procedural_scene, "train").c2w[0].numpy(), width=32, height=32)
        assert wait_for(lambda: any(fmt == "png" for fmt, _ in client.frames), 30.0)
        assert trainer.step == 1 and viewer.gui.stats.content.startswith("step **1**")
        link.resume()
        runner.join(60.0)
        assert not runner.is_alive() and trainer.step == 3
    finally:
        if client is not None:
            client.close()
        viewer.close()


def test_train_app_with_viewer_prints_the_url_and_closes_it(procedural_scene, tmp_path, free_port, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps"))
    import train_nerf

    from fields.viewer import check_port

    config = small_config(procedural_scene, tmp_path, max_steps=2, viewer=True, viewer_port=free_port,
                          viewer_wait=False)
    assert exit_code(train_nerf.main, config) == 0
    out = capsys.readouterr().out
    assert f"viewer: open http://127.0.0.1:{free_port}" in out and "done: 2 steps" in out
    check_port("127.0.0.1", free_port)  # the viewer closed with the app: the port is free again


def test_train_app_refuses_a_busy_viewer_port(procedural_scene, tmp_path, free_port, capsys):
    import socket

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps"))
    import train_nerf

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        config = small_config(procedural_scene, tmp_path, viewer=True, viewer_port=free_port)
        assert exit_code(train_nerf.main, config) == 2
    err = capsys.readouterr().err
    assert f"port {free_port} on 127.0.0.1 is already in use" in err and "--port" in err
    assert not (tmp_path / "run").exists()  # nothing started, nothing written
