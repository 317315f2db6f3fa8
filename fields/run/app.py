"""What every app shares around its ``main``: the command line (tyro), one way to fail with a message, and one
way to stop on Ctrl+C, SIGTERM or SIGHUP.

    if __name__ == "__main__":
        run_app(main, MyConfig, __doc__)

``main(config) -> int`` raises :class:`AppError` (through :func:`fail` or :func:`user_errors`) for anything the
user can fix: it is printed as one ``error: ...`` line and the app exits 2. An interruption prints one line (what
was saved, when something was being trained) and exits 128 + the signal number (130 for Ctrl+C)."""
import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

import tyro

from fields.run.interrupts import Interrupted, handle_stop_signals, teardown_skipped

EXIT_USAGE = 2


class AppError(Exception):
    """A problem the user can fix; its message says what to do."""


def fail(message: str) -> NoReturn:
    raise AppError(message)


@contextmanager
def user_errors(*types: type[BaseException]) -> Iterator[None]:
    """Turns the listed exception types raised inside into :class:`AppError` (default: ValueError and
    FileNotFoundError, what the loaders and option checks raise for bad input)."""
    try:
        yield
    except (types or (ValueError, FileNotFoundError)) as error:
        raise AppError(str(error)) from None


def report_error(message: str) -> int:
    """Prints the one ``error: ...`` line of a failed command; returns its exit code."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def exit_code(main: Callable[[object], int], config) -> int:
    """Runs ``main(config)``; an :class:`AppError` or an interruption becomes its one line and its exit code."""
    try:
        return main(config)
    except AppError as error:
        return report_error(str(error))
    except KeyboardInterrupt as stop:
        stop = stop if isinstance(stop, Interrupted) else Interrupted()
        print(f"\ninterrupted ({stop.signal_name})" + (f": {stop.note}" if stop.note else ""), file=sys.stderr)
        return stop.exit_code


def run_app(main: Callable[[object], int], config_type: type, description: str | None) -> NoReturn:
    handle_stop_signals()
    try:
        config = tyro.cli(config_type, description=description)
    except KeyboardInterrupt:
        sys.exit(Interrupted().exit_code)
    code = exit_code(main, config)
    if teardown_skipped():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
