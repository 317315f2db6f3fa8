"""Throughput of every native op against its pure-torch reference, measured side by side in one run.

    python -m bench.ops [--device cpu|cuda] [--only NAME ...] [--repeats N] [--cpu-time]

Prints a table and a JSON document. Each op contributes cases from bench/op_cases/<op>.py.
"""
import argparse
import importlib
import pkgutil
import time

import torch

import bench.op_cases
from bench.timing import best_time, print_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", help="op modules to run (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by the process's CPU time instead of the wall clock: steadier on a loaded machine; "
                             "use it with one thread (OMP_NUM_THREADS=1)")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if args.cpu_time and device.type == "cuda":
        parser.error("--cpu-time measures CPU work; a GPU's is not in it")
    clock = time.process_time if args.cpu_time else time.perf_counter

    rows = []
    for module_info in pkgutil.iter_modules(bench.op_cases.__path__):
        if args.only and module_info.name not in args.only:
            continue
        module = importlib.import_module(f"bench.op_cases.{module_info.name}")
        for case in module.cases(device):
            native = best_time(case.native, args.repeats, sync=sync, clock=clock)
            reference = best_time(case.reference, args.repeats, sync=sync, clock=clock)
            rows.append({
                "op": case.name,
                "unit": case.unit,
                "native_per_s": case.items / native,
                "reference_per_s": case.items / reference,
                "speedup": reference / native,
                "native_ms": native * 1e3,
                "reference_ms": reference * 1e3,
            })
            print(f"  measured {case.name}", flush=True)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    name += ", CPU time" if args.cpu_time else ""
    print_results(f"native ops vs pure-torch references on {name}", rows,
                  ["op", "unit", "native_per_s", "reference_per_s", "speedup", "native_ms", "reference_ms"])


if __name__ == "__main__":
    main()
