"""Where a lego training step's time goes: steps/s, then torch.profiler over a few steps.

    python -m bench.nerf_profile [--device cuda|cpu] [--warmup 400] [--steps 200] [--profile-steps 40]
                                 [--target-samples N] [--data-root DIR]

Trains the hash field on lego (the trainer's defaults), times `--steps` steps after `--warmup` (past the occupancy
grid's warm-up), then profiles `--profile-steps` more. Reports per step: wall time, CPU time under the profiler,
GPU busy time, kernel launches and host synchronisations (`.item()`, stream syncs) — on a GPU, a step whose CPU
time exceeds its GPU time is bound by Python and launch overhead. Also counts the tensor operations a step
dispatches (forward, backward and optimiser; views and allocations left out): about one kernel launch each on a GPU,
and countable on a CPU too; and the host's page faults per step (memory handed back to the kernel and faulted in
again, fields.run.host_memory). Step time and op count are also measured with the field heads' MLPs layer by
layer instead of through the fused MLP op (``*_unfused``; steps alternate between the two in rounds, so that both
see the same load and training state). Prints the top ops by device (or CPU) time as a table and all figures as JSON.
"""
import argparse
import resource
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from bench.timing import print_results, synchronize
from fields.models.layers import fused_mlps
from fields.train.config import TrainNerfConfig
from fields.train.nerf_trainer import NerfTrainer

SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize")  # what .item(), .tolist() and the like wait in
NO_KERNEL_OPS = {"empty", "empty_strided", "empty_like", "lift_fresh", "_local_scalar_dense"}


class DispatchedOps(TorchDispatchMode):
    """Counts the tensor operations dispatched while active, views and bare allocations excluded: the aten ops (also
    those the native ops call internally), through this dispatch mode, and every call of a native core op
    (torch.ops.fields.*, forward and backward), from the profiler's record of them (most are registered for every
    backend at once, which runs them before a dispatch mode could see them)."""

    def __init__(self):
        super().__init__()
        self.aten = 0
        self.native = 0
        self._profile = profile(activities=[ProfilerActivity.CPU])

    @property
    def count(self) -> int:
        return self.aten + self.native

    def __enter__(self):
        self._profile.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self._profile.__exit__(*exc)
        # An op this mode sees is recorded again when the mode calls it: count the outer record only.
        self.native = sum(1 for e in self._profile.events() if e.name.startswith("fields::")
                          and (e.cpu_parent is None or e.cpu_parent.name != "PythonDispatchMode"))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if (not func.is_view and func.overloadpacket.__name__ not in NO_KERNEL_OPS
                and func.namespace != "fields"):
            self.aten += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(trainer, fused: bool) -> float:
    """Tensor operations dispatched per step, over a whole number of occupancy-grid updates (one every 16 steps)."""
    with fused_mlps(fused), DispatchedOps() as dispatched:
        for _ in range(64):
            trainer.train_step()
    return dispatched.count / 64


def ms_per_step(trainer, steps_per_round: int, rounds: int) -> dict[bool, float]:
    """Milliseconds per step with the fused MLP op (True) and without (False): ``rounds`` rounds of
    ``steps_per_round`` steps each way, alternating."""
    seconds = {True: 0.0, False: 0.0}
    for _ in range(rounds):
        for fused in (True, False):
            with fused_mlps(fused):
                synchronize(trainer.device)
                start = time.perf_counter()
                for _ in range(steps_per_round):
                    trainer.train_step()
                synchronize(trainer.device)
                seconds[fused] += time.perf_counter() - start
    return {fused: total / (rounds * steps_per_round) * 1e3 for fused, total in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--steps", type=int, default=200, help="timed steps, each way (fused MLP and not)")
    parser.add_argument("--profile-steps", type=int, default=40)
    parser.add_argument("--target-samples", type=int, default=None)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--top", type=int, default=15, help="ops listed")
    args = parser.parse_args()

    config = TrainNerfConfig(scene="lego", data_root=args.data_root, device=args.device, max_steps=10**9,
                             output="outputs/bench_nerf_profile", progress=False, val_views=0, eval_every=0,
                             save_every=10**9, target_samples=args.target_samples)
    trainer = NerfTrainer(config)
    for _ in range(args.warmup):
        trainer.train_step()
    rounds = 4
    steps_per_round = max(1, args.steps // rounds)
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step_ms = ms_per_step(trainer, steps_per_round, rounds)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) / (2 * rounds * steps_per_round)
    ops = {fused: ops_per_step(trainer, fused) for fused in (True, False)}
    on_gpu = trainer.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with profile(activities=activities) as prof:
        for _ in range(args.profile_steps):
            trainer.train_step()
        synchronize(trainer.device)
    events = prof.key_averages()
    per_step = 1.0 / args.profile_steps
    summary = {
        "device": torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads",
        "target_samples": trainer.target_samples,
        "n_rays": trainer.n_rays,
        "ms_per_step": round(step_ms[True], 3),
        "steps_per_s": round(1e3 / step_ms[True], 1),
        "ms_per_step_unfused": round(step_ms[False], 3),
        "profiled_cpu_ms_per_step": round(sum(e.self_cpu_time_total for e in events) / 1e3 * per_step, 3),
        "profiled_gpu_ms_per_step": round(sum(e.self_device_time_total for e in events) / 1e3 * per_step, 3),
        "ops_dispatched_per_step": ops[True],
        "ops_dispatched_per_step_unfused": ops[False],
        "page_faults_per_step": round(faults),
    }
    if on_gpu:
        summary["kernel_launches_per_step"] = sum(e.count for e in events if e.key == "cudaLaunchKernel") * per_step
        summary["host_syncs_per_step"] = sum(e.count for e in events if e.key in SYNC_EVENTS) * per_step
        summary["item_calls_per_step"] = sum(e.count for e in events if e.key == "aten::item") * per_step
    time_of = (lambda e: e.self_device_time_total) if on_gpu else (lambda e: e.self_cpu_time_total)
    top = sorted(events, key=time_of, reverse=True)[: args.top]
    rows = [{"op": e.key[:70], "calls_per_step": e.count * per_step, "ms_per_step": time_of(e) / 1e3 * per_step}
            for e in top]
    print_results(f"lego training step ({summary['device']}): {summary}", rows, ["op", "calls_per_step",
                                                                                  "ms_per_step"])


if __name__ == "__main__":
    main()
