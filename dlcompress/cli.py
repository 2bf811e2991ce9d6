"""The ``dlcompress`` command line: the app from :func:`dlcompress.commands.build_app`, and the one place where
errors become exit codes.

User mistakes (bad names, files, shapes, existing outputs) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import signal
import sys
import traceback
import warnings
from pathlib import Path

import typer

from dlcompress.commands import build_app
from dlcompress.toolkit import terminal
from dlcompress.toolkit.errors import DLCompressError, GateError, first_line
from dlcompress.toolkit.signals import interrupts_handled, received

# JAX (imported by litert-torch) warns whenever the process forks, which libraries loaded after it do (seen:
# during NNCF quantization); the generic warning would bury the command's own output.
warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)

app = build_app()


# ---- entry point ---------------------------------------------------------------------------------------
def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the copy of click that typer >= 0.26 vendors as ``typer._click``."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_CLICK_ERRORS = _click_classes("ClickException")
_CLICK_ABORTS = _click_classes("Abort")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2; SIGINT / SIGTERM clean up and exit
    with 128 + the signal's number (130, 143). What libraries print goes to a log file unless ``--verbose``
    (accepted anywhere on the line) is given."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in args[: args.index("--") if "--" in args else len(args)]:
        args.remove("--verbose")
        terminal.set_verbose()
    with interrupts_handled(), terminal.library_output_logged() as log:
        code = _invoke(args, log)
    signum = received()
    if signum is not None:  # whatever a library made of the KeyboardInterrupt (typer: exit code 130)
        what = "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}"
        print(f"dlcompress: {what} (nothing was left half-written)", file=terminal.stream())
        return 128 + signum
    return code


def _invoke(args: list[str], log: Path | None) -> int:
    command = typer.main.get_command(app)
    err = terminal.stream()
    try:
        rv = command.main(args=args, prog_name="dlcompress", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except GateError as e:
        print(f"dlcompress: gate failed: {e}", file=err)
        return 3
    except DLCompressError as e:
        if received() is None:  # an error made of an interrupt is said as the interrupt
            print(f"dlcompress: error: {e}", file=err)
        return 2
    except _CLICK_ERRORS as e:  # usage errors: click prints usage + the problem; exit code 2
        e.show(file=err)
        return e.exit_code
    except (*_CLICK_ABORTS, KeyboardInterrupt):
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        if log is None:
            raise
        traceback.print_exc()  # into the log (stderr points there)
        terminal.keep_log()
        print(f"dlcompress: internal error: {type(e).__name__}: {first_line(e, 300)} (traceback in {log}; "
              "please report it)", file=err)
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
