"""FreSh against the default hyperparameter and against a grid search, on real photographs and on lego.

    python -m bench.fresh images [--size 128 --steps 150 --hidden-dim 128 --n-layers 3 --omega-head --seeds 5
                           --holdout-every 10 --device cuda]
    python -m bench.fresh lego [--steps 300 --downscale 4 --side 64 --views 4 --seeds 5 --select-only]
    python -m bench.fresh rescore --stored RUN.json --size N --hidden-dim H [--n-layers L --omega-head] --crops K ...

images: for each skimage.data photograph (centre-cropped to a square, resized to --size, greyscale repeated to
RGB) and each family (siren: first_omega, ffn: sigma), every candidate of a reduced grid is trained for --steps
full-image steps with the image trainer. As in FreSh's own image protocol, every --holdout-every-th pixel (10 %)
is held out of training and the PSNR that ranks the runs is on those pixels (interpolation, which over-high
frequencies hurt); the all-pixel PSNR is in the JSON too. The table gives the PSNR with the default value (omega0 =
30, sigma = 10), with FreSh's choice among the same candidates, and with the grid's best, and the selection time as
a fraction of one training run. FreSh over its full published grid is run too (selection only) for its time and
pick.

lego: the hash field (finest_resolution) trained for --steps on the downscaled scene, with the default
(2048, table init 1e-4) and with every grid value at FreSh's high-value table init; val PSNR on every 25th view.

rescore: FreSh's pick again at other spectrum crops (--crops), for the photographs of an earlier `images` run
(--stored, its --json; give the same --size and widths), each pick scored with the held-out PSNRs that run measured
for every candidate: no training.

Torch runs on one thread: on this shared 2-core machine that is ~10x faster than two contending threads.
"""
import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import imageio.v3 as iio
import numpy as np
import torch

from bench.timing import print_results
from fields.datasets import find_scene, load_scene
from fields.datasets.image import load_image
from fields.init import FAMILIES, select_for_image, select_for_views, training_views
from fields.train.config import TrainImageConfig, TrainNerfConfig
from fields.train.image_trainer import ImageTrainer
from fields.run import resolve_device
from fields.train.nerf_trainer import NerfTrainer

# Eight distinct photographs that ship with skimage (``cat`` is ``chelsea`` again, so it is not among them).
PHOTOS = ["astronaut", "coffee", "chelsea", "camera", "rocket", "immunohistochemistry", "coins", "moon"]
GRIDS = {"siren": (10.0, 30.0, 50.0, 80.0, 120.0), "ffn": (2.0, 4.0, 7.0, 10.0, 15.0)}
DEFAULTS = {"siren": 30.0, "ffn": 10.0, "hash": 2048.0}
LEGO_GRID = (256.0, 512.0, 1024.0, 2048.0)


def photograph(name: str, size: int) -> np.ndarray:
    from skimage import data, transform
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    resized = transform.resize(square, (size, size), anti_aliasing=True)
    return (np.clip(resized, 0, 1) * 255).round().astype(np.uint8)


def write_photograph(name: str, size: int, folder: Path) -> Path:
    path = folder / f"{name}_{size}.png"
    iio.imwrite(path, photograph(name, size))
    return path


def width_options(family: str, hidden_dim: int, n_layers: Optional[int] = None, omega_head: bool = False) -> dict:
    options = {"hidden_dim": hidden_dim}
    if n_layers:
        options["n_layers"] = n_layers
    if omega_head and family == "siren":
        options["omega_head"] = True  # FreSh's SIREN head (apply_omega_when_linear)
    if family == "ffn":
        options["n_frequencies"] = hidden_dim // 2  # FreSh's width: cos + sin = hidden
    return options


def train_image(path: Path, family: str, options: dict, steps: int, holdout_every: int, output: Path,
                device: str) -> dict:
    config = TrainImageConfig(image=path, field=family, max_steps=steps, output=output, progress=False,
                              holdout_every=holdout_every, field_options=options, device=device)
    return ImageTrainer(config).run()


def run_images(args) -> None:
    rows, folder = [], Path(tempfile.mkdtemp(prefix="bench_fresh_"))
    device = str(resolve_device(args.device))
    for name in args.photos:
        path = write_photograph(name, args.size, folder)
        image = load_image(path)
        for family in args.families:
            option = FAMILIES[family].option
            base = width_options(family, args.hidden_dim, args.n_layers, args.omega_head)
            chosen = select_for_image(family, image, base, GRIDS[family], args.seeds, device=device)
            full = select_for_image(family, image, base, None, args.seeds, device=device)
            psnr, psnr_all, seconds = {}, {}, {}
            for value in GRIDS[family]:
                metrics = train_image(path, family, {**base, option: value}, args.steps, args.holdout_every,
                                      folder / f"{name}_{family}_{value}", device)
                psnr[value], psnr_all[value] = metrics["psnr_holdout"], metrics["psnr"]
                seconds[value] = metrics["train_seconds"]
            run_seconds = float(np.mean(list(seconds.values())))
            best = max(psnr, key=psnr.get)
            rows.append({"image": name, "family": family, "default": DEFAULTS[family],
                         "psnr_default": psnr[DEFAULTS[family]], "fresh": chosen.value,
                         "psnr_fresh": psnr[chosen.value], "grid_best": best, "psnr_grid_best": psnr[best],
                         "select_s": chosen.seconds, "run_s": run_seconds,
                         "select_frac": chosen.seconds / run_seconds, "full_grid_pick": full.value,
                         "full_select_s": full.seconds, "psnr_holdout": {str(k): v for k, v in psnr.items()},
                         "psnr_all_pixels": {str(k): v for k, v in psnr_all.items()},
                         "distances": {str(k): v for k, v in chosen.distances.items()}})
            print(chosen.table(), flush=True)
            print(json.dumps(rows[-1]), flush=True)
    columns = ["image", "family", "psnr_default", "fresh", "psnr_fresh", "grid_best", "psnr_grid_best",
               "select_s", "run_s", "select_frac", "full_grid_pick", "full_select_s"]
    for family in args.families:
        mine = [r for r in rows if r["family"] == family]
        summary = {"image": "MEAN", "family": family}
        for key in ("psnr_default", "psnr_fresh", "psnr_grid_best", "select_s", "run_s", "select_frac",
                    "full_select_s"):
            summary[key] = float(np.mean([r[key] for r in mine]))
        rows.append(summary)
    print_results(f"FreSh on {len(args.photos)} photographs on {device} ({args.size}^2, {args.steps} full-image "
                  f"steps, hidden {args.hidden_dim} x {args.n_layers or 3}{', omega head' if args.omega_head else ''}, "
                  f"{args.seeds} seeds; PSNR on every {args.holdout_every}th pixel, "
                  f"held out of training)", rows, columns)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def run_rescore(args) -> None:
    data = json.loads(Path(args.stored).read_text())
    stored = data["results"] if isinstance(data, dict) else data  # later runs record their protocol beside them
    folder = Path(tempfile.mkdtemp(prefix="bench_fresh_rescore_"))
    rows = []
    for family in args.families:
        runs = [run for run in stored if run.get("family") == family and "psnr_holdout" in run]
        if not runs:
            continue
        options = width_options(family, args.hidden_dim, args.n_layers, args.omega_head)
        images = {run["image"]: load_image(write_photograph(run["image"], args.size, folder)) for run in runs}
        for crop in args.crops or [FAMILIES[family].crop]:
            minus_best, minus_default, picks = [], [], []
            for run in runs:
                chosen = select_for_image(family, images[run["image"]], options, GRIDS[family], args.seeds, crop=crop)
                psnr = {float(value): p for value, p in run["psnr_holdout"].items()}
                minus_best.append(psnr[chosen.value] - max(psnr.values()))
                minus_default.append(psnr[chosen.value] - psnr[DEFAULTS[family]])
                picks.append(f"{chosen.value:g}")
            rows.append({"family": family, "crop": crop, "fresh_minus_best": float(np.mean(minus_best)),
                         "fresh_minus_default": float(np.mean(minus_default)), "picks": " ".join(picks)})
    if not rows:
        raise SystemExit(f"{args.stored}: no held-out PSNRs of the families {args.families} to rescore "
                         f"(it must be the --json of a `python -m bench.fresh images` run)")
    print_results(f"FreSh's pick per spectrum crop, scored with {args.stored} (photographs at {args.size}^2; "
                  f"mean dB on held-out pixels)", rows,
                  ["family", "crop", "fresh_minus_best", "fresh_minus_default", "picks"])


def train_lego(args, options: dict, output: Path) -> dict:
    config = TrainNerfConfig(scene=args.scene, field="hash", max_steps=args.steps, downscale=args.downscale,
                             output=output, progress=False, val_views=0, eval_every=args.every,
                             save_every=10**9, field_options=options)
    result = NerfTrainer(config).run()
    return {"psnr": result.final_metrics["psnr"], "train_seconds": result.train_seconds}


def run_lego(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_fresh_lego_"))
    scene = load_scene(find_scene(args.scene), "train", downscale=args.downscale)
    cameras, images = training_views(scene, args.views, args.side)
    chosen = select_for_views("hash", cameras, images, scene.aabb.tolist(), {}, LEGO_GRID, args.seeds)
    print(chosen.table(), flush=True)
    if args.select_only:
        if args.json:
            Path(args.json).write_text(json.dumps({"fresh": chosen.to_json()}, indent=1))
        return
    rows = [{"run": "default (2048, init 1e-4)", **train_lego(args, {}, folder / "default")}]
    for value in LEGO_GRID:
        row = train_lego(args, {**chosen.fixed, "finest_resolution": int(value)}, folder / str(value))
        rows.append({"run": f"{int(value)}, init {chosen.fixed['table_init_scale']}"
                            + (" (FreSh)" if value == chosen.value else ""), **row})
        print(json.dumps(rows[-1]), flush=True)
    rows.append({"run": "selection", "train_seconds": chosen.seconds,
                 "psnr": None, "fraction_of_run": chosen.seconds / rows[0]["train_seconds"]})
    print_results(f"FreSh on lego, hash field ({args.steps} steps, downscale {args.downscale}, val every "
                  f"{args.every}th view)", rows, ["run", "psnr", "train_seconds", "fraction_of_run"])
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "fresh": chosen.to_json()}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["images", "lego", "rescore"])
    parser.add_argument("--photos", nargs="+", default=PHOTOS[:8])
    parser.add_argument("--families", nargs="+", default=["siren", "ffn"], choices=sorted(GRIDS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="150 (images) / 300 (lego)")
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=None,
                        help="hidden layers (default: the backbone's, 3); FreSh's SIREN has 4 sine layers")
    parser.add_argument("--omega-head", action="store_true",
                        help="siren: multiply the head's input by omega too, as FreSh's SIREN configuration does")
    parser.add_argument("--holdout-every", type=int, default=10, help="held-out pixels that rank the runs (images)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--scene", default="lego")
    parser.add_argument("--downscale", type=int, default=4)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--views", type=int, default=4, help="training views FreSh compares (lego)")
    parser.add_argument("--side", type=int, default=64, help="side of the views FreSh renders (lego)")
    parser.add_argument("--select-only", action="store_true", help="lego: FreSh's distances only, no training")
    parser.add_argument("--stored", help="rescore: the JSON of an earlier `images` run")
    parser.add_argument("--crops", type=int, nargs="+", default=None,
                        help="rescore: spectrum crops (default: the family's)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="images: where FreSh selects and the runs train")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.part == "images":
        args.steps = args.steps or 150
        run_images(args)
    elif args.part == "rescore":
        if not args.stored:
            parser.error("rescore needs --stored: the JSON of an earlier `python -m bench.fresh images` run")
        run_rescore(args)
    else:
        args.steps = args.steps or 300
        run_lego(args)


if __name__ == "__main__":
    main()
