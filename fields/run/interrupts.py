"""Stopping a run on request without losing it: Ctrl+C (SIGINT), SIGTERM (a job scheduler's or `kill`'s stop) and
SIGHUP (a closed terminal) all raise :class:`Interrupted`, a KeyboardInterrupt, so every app treats them alike.

While a training loop runs, stop signals are deferred (:func:`deferred_stops`): the signal only sets a flag that
the loop reads at the next step boundary, so neither a step nor a checkpoint write is cut in half; it then writes a
checkpoint and raises. A second signal while one is pending stops at once (the checkpoints on disk are written
atomically, so the last one survives)."""
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_skip_teardown = False


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT, note: str = ""):
        super().__init__(signum)
        self.signum = signum
        self.note = note  # what was saved, set by whoever saved it

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def handle_stop_signals() -> None:
    """Make every stop signal raise :class:`Interrupted` in the main thread (apps call this first)."""
    if _in_main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_interrupted)


@contextmanager
def deferred_stops() -> Iterator[list[int]]:
    """Inside, a stop signal is appended to the yielded list instead of raising (a second one raises)."""
    pending: list[int] = []
    if not _in_main_thread():  # signals reach only the main thread; a loop elsewhere has nothing to defer
        yield pending
        return

    def defer(signum, frame):
        if pending:
            raise Interrupted(signum)
        pending.append(signum)

    previous = {signum: signal.signal(signum, defer) for signum in STOP_SIGNALS}
    try:
        yield pending
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def skip_teardown() -> None:
    """Called when a native library's call was cut short (a cancelled pycolmap call): its worker threads may outlive
    it, and tearing the interpreter down under them aborts the process, so the app exits at once instead (its output
    flushed; what it wrote was already written atomically)."""
    global _skip_teardown
    _skip_teardown = True


def teardown_skipped() -> bool:
    return _skip_teardown
