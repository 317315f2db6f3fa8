"""Every app's main goes through one wrapper: "error: ..." with exit code 2 for what the user can fix, one line and
128 + the signal for an interruption."""
import signal

from fields.run import AppError, Interrupted, exit_code, fail, user_errors


def test_user_errors_become_one_line_and_exit_code_2(capsys):
    def main(config):
        with user_errors():
            raise FileNotFoundError(f"no scene {config}")

    assert exit_code(main, "lego") == 2
    assert capsys.readouterr().err == "error: no scene lego\n"
    assert exit_code(lambda config: fail("bad --flag"), None) == 2
    assert capsys.readouterr().err == "error: bad --flag\n"


def test_other_errors_are_not_hidden():
    def main(config):
        raise RuntimeError("a bug")

    try:
        exit_code(main, None)
    except RuntimeError as error:
        assert str(error) == "a bug"
    else:
        raise AssertionError("a bug must keep its traceback")


def test_interruptions_print_one_line_and_exit_with_the_signal(capsys):
    def ctrl_c(config):
        raise KeyboardInterrupt

    assert exit_code(ctrl_c, None) == 130
    assert capsys.readouterr().err.strip() == "interrupted (SIGINT)"

    def terminated(config):
        raise Interrupted(signal.SIGTERM, note="checkpoint written at step 12 in run; continue with --resume")

    assert exit_code(terminated, None) == 143
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["interrupted (SIGTERM): checkpoint written at step 12 in run; continue with --resume"]


def test_app_error_is_an_exception_not_a_system_exit():
    assert issubclass(AppError, Exception) and not issubclass(AppError, SystemExit)
