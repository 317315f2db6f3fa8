"""What skipping hidden samples saves when rendering a trained radiance field, side by side in one run.

    python -m bench.hidden_samples --checkpoint RUN_OR_FILE [--views 3] [--device cpu|cuda] [--data-root DIR]

For a few val views at full resolution: the samples the ray marcher places, the share compositing keeps (the rest lie
behind each ray's early-termination point), and seconds per view with `render_rays` as shipped (the colour evaluated
only at kept samples) against evaluating the whole field at every sample; both images must agree. Prints a table and
JSON.
"""
import argparse
import time
from pathlib import Path

import torch

from bench.timing import print_results, synchronize
from fields.datasets import find_scene, image_rays, load_scene
from fields.render.volume import render_rays, render_rays_reference
from fields.run.checkpoint import load_field


@torch.no_grad()
def time_view(render, field, grid, origins, directions, render_options, chunk=1 << 14):
    """Seconds to render the view in chunks of rays (as evaluation does), and the image [N, 3]."""
    background = torch.ones(3, device=origins.device)
    synchronize(origins.device)
    start = time.perf_counter()
    parts = [render(field, grid, origins[i : i + chunk], directions[i : i + chunk], background, **render_options)
             for i in range(0, origins.shape[0], chunk)]
    synchronize(origins.device)
    return time.perf_counter() - start, torch.cat(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a run folder or its checkpoints/latest.safetensors")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()

    path = Path(args.checkpoint)
    path = path / "checkpoints" / "latest.safetensors" if path.is_dir() else path
    field, grid, meta = load_field(path, args.device)
    field.eval()
    scene = load_scene(find_scene(meta["scene"], args.data_root), "val")
    render_options = {key: meta["render"][key] for key in ("render_step_size", "cone_angle")}

    counts = {}  # samples of the current view, added up over its chunks

    def shipped(*inputs, **options):
        out = render_rays(*inputs, **options)
        counts["marched"] += out.n_marched
        counts["kept"] += out.n_samples
        return out.rgb

    def every_sample(*inputs, **options):
        return render_rays_reference(*inputs, **options)[0]

    rows = []
    for index in range(args.views):
        origins, directions = (t.reshape(-1, 3) for t in image_rays(scene, index, args.device))
        counts.update(marched=0, kept=0)
        skip_s, skip_rgb = time_view(shipped, field, grid, origins, directions, render_options)
        every_s, every_rgb = time_view(every_sample, field, grid, origins, directions, render_options)
        rows.append({"view": index, "marched_samples": counts["marched"],
                     "kept_fraction": round(counts["kept"] / max(counts["marched"], 1), 3),
                     "every_sample_s": round(every_s, 3), "skipping_s": round(skip_s, 3),
                     "speed_up": round(every_s / skip_s, 2),
                     "max_abs_difference": float((skip_rgb - every_rgb).abs().max())})
    print_results(f"skipping hidden samples, {scene.width}x{scene.height} val views of {meta['scene']} "
                  f"({args.device})", rows, list(rows[0]))


if __name__ == "__main__":
    main()
