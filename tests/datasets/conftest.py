"""Scenes shared by the dataset tests: the procedural scene (always) and the real lego scene (when present)."""
import pytest

from fields.datasets import SceneNotFoundError, data_roots, find_scene, make_procedural_scene


@pytest.fixture(scope="session")
def procedural_dir(tmp_path_factory):
    return make_procedural_scene(tmp_path_factory.mktemp("procedural"), n_train=12, n_val=3, n_test=2, size=48)


@pytest.fixture(scope="session")
def lego_dir():
    """The NeRF-synthetic lego scene from the data roots (../shared/data or $FIELDS_DATA_ROOT), else a skip."""
    try:
        return find_scene("lego")
    except SceneNotFoundError:
        roots = ", ".join(str(root) for root in data_roots())
        pytest.skip(f"the real lego scene is not in any data root ({roots}); set FIELDS_DATA_ROOT to use it")


def _look_at_origin(position):
    import numpy as np

    from fields.datasets.procedural import look_at

    return look_at(np.asarray(position, dtype=np.float64))


@pytest.fixture
def write_blender_scene():
    """Factory: write ``images`` (uint8 arrays, [H, W, 3 or 4]) as one Blender-format split; returns the scene dir."""
    import json

    from PIL import Image

    def write(scene_dir, images, split="train", camera_angle_x=0.7, with_extension=False, poses=None):
        (scene_dir / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for index, image in enumerate(images):
            Image.fromarray(image).save(scene_dir / split / f"r_{index}.png")
            pose = poses[index] if poses is not None else _look_at_origin([4.0, 0.5 * index, 1.0])
            file_path = f"./{split}/r_{index}" + (".png" if with_extension else "")
            frames.append({"file_path": file_path, "transform_matrix": [list(map(float, row)) for row in pose]})
        content = {"camera_angle_x": camera_angle_x, "frames": frames}
        (scene_dir / f"transforms_{split}.json").write_text(json.dumps(content, indent=2))
        return scene_dir

    return write
