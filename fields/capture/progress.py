"""Progress bars for the stages, and running a long pycolmap call so that Ctrl+C can stop it.

pycolmap's calls release the GIL, so they run in a worker thread while the main thread waits in short steps and
stays able to receive KeyboardInterrupt; on Ctrl+C the call's cancellation token is set and the thread is given a
moment to stop before the interrupt propagates; the app then exits without tearing the interpreter down.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

import pycolmap
from tqdm import tqdm

from fields.run.interrupts import skip_teardown

T = TypeVar("T")
CANCEL_WAIT_S = 10.0


def stage_bar(stage: str, total: int | None, unit: str) -> tqdm:
    """One bar per stage, with rate and ETA; written to stderr so stdout stays for the summary."""
    return tqdm(total=total, desc=f"{stage:<9}", unit=unit, file=sys.stderr,
                disable=None)  # disable=None: no bar when stderr is not a terminal (logs, CI)


def run_interruptible(call: Callable[[pycolmap.CancellationToken], T]) -> T:
    """``call(token)`` in a worker thread; Ctrl+C cancels it through ``token`` and is re-raised."""
    token = pycolmap.CancellationToken()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["value"] = call(token)
        except BaseException as error:  # handed to the main thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="pycolmap", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        token.cancel()
        worker.join(CANCEL_WAIT_S)
        skip_teardown()  # pycolmap's own threads may outlive the cancelled call
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
