import pytest

from fields.datasets import SceneNotFoundError, data_roots, find_scene
from fields.datasets import find as find_module
from fields.datasets.find import ENV_VAR, REPO_ROOT


def _scene(root, relative):
    scene_dir = root / relative
    scene_dir.mkdir(parents=True)
    (scene_dir / "transforms_train.json").write_text('{"camera_angle_x": 0.7, "frames": []}')
    return scene_dir


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A working directory and a repository root of its own, no data-root variable: real data cannot interfere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(find_module, "REPO_ROOT", tmp_path / "checkout" / "repo")
    return tmp_path


def test_direct_paths(isolated):
    scene_dir = _scene(isolated, "somewhere/my_capture")
    assert find_scene(scene_dir) == scene_dir
    assert find_scene(str(scene_dir / "transforms_train.json")) == scene_dir / "transforms_train.json"


def test_synthetic_names_map_to_nerf_synthetic(isolated):
    root = isolated / "root"
    lego = _scene(root, "nerf_synthetic/lego")
    capture = _scene(root, "garden")
    assert find_scene("lego", data_root=root) == lego
    assert find_scene("garden", data_root=root) == capture
    with pytest.raises(SceneNotFoundError):
        find_scene("garden_2", data_root=root)


def test_search_order(isolated, monkeypatch):
    argument, env, local, shared = (isolated / name for name in ("argument", "env", "work/data", "shared/data"))
    found = {root: _scene(root, "nerf_synthetic/ship") for root in (argument, env, local, shared)}
    monkeypatch.setenv(ENV_VAR, str(env))
    assert find_scene("ship", data_root=argument) == found[argument]
    assert find_scene("ship") == found[env]
    monkeypatch.delenv(ENV_VAR)
    assert find_scene("ship") == found[local]  # ./data
    (found[local] / "transforms_train.json").unlink()  # now a directory without transforms: skipped
    assert find_scene("ship") == found[shared]  # ../shared/data from the working directory


def test_repository_relative_fallback(isolated):
    """<repo>/../shared/data is searched wherever the current directory is."""
    beside_repo = _scene(isolated, "checkout/shared/data/nerf_synthetic/mic")
    assert find_scene("mic") == beside_repo
    roots = data_roots()
    assert roots.index(isolated / "work" / "data") < roots.index(isolated / "checkout" / "repo" / "data")
    assert roots[-2:] == [isolated / "shared" / "data", isolated / "checkout" / "shared" / "data"]


def test_real_repository_root_is_the_parent_of_the_package():
    assert (REPO_ROOT / "fields" / "datasets" / "find.py").is_file()


def test_missing_scene_error_names_every_place_and_how_to_get_data(isolated):
    empty = _scene(isolated, "work/data/nerf_synthetic/chair").parent / "drums"
    empty.mkdir()  # exists, but no transforms file
    (isolated / "nowhere").mkdir()  # a data root without the scene
    with pytest.raises(SceneNotFoundError) as caught:
        find_scene("drums", data_root=isolated / "nowhere")
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    for root in data_roots(isolated / "nowhere"):
        assert str(root / "nerf_synthetic" / "drums") in message
    assert f"{empty} (exists but has no transforms*.json)" in message
    assert "nerf_synthetic.zip" in message and ENV_VAR in message and "--data-root" in message


def test_a_data_root_that_does_not_exist_is_an_error_not_skipped(isolated):
    _scene(isolated, "work/data/nerf_synthetic/chair")  # would be found in ./data if the bad root were skipped
    with pytest.raises(SceneNotFoundError, match="--data-root .*typo is not a directory"):
        find_scene("chair", data_root=isolated / "typo")


def test_an_absolute_scene_path_is_listed_once(isolated):
    missing = isolated / "no" / "scene"
    with pytest.raises(SceneNotFoundError) as caught:
        find_scene(str(missing))
    assert str(caught.value).count(f"{missing} (") == 1  # once among the places searched
