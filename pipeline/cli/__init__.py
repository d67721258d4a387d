"""The `hydrate` command line: flags → a frozen options object → one core function.

Reports go to stdout, progress and errors to stderr. Exit status: 0 success, 1 an error
hydrate explains (one line), 2 a usage error, 3 a crash (traceback saved to a file), 4 a
change a gate or a hold blocks.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from typing import NoReturn

import click

from pipeline import __version__
from pipeline.cli import (  # noqa: F401 (each adds its commands)
    access,
    bootstrap,
    cache,
    catalog,
    diff,
    explain,
    graph,
    hold,
    init,
    promote,
    publish,
    render,
    report,
    rollback,
    selfservice,
    status,
    tools,
    validate,
    verify,
)
from pipeline.cli.group import cli
from pipeline.errors import PipelineError


def _crash(error: BaseException) -> NoReturn:
    fd, path = tempfile.mkstemp(prefix="hydrate-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(f"hydrate {__version__}\nargv: {sys.argv}\n\n")
        traceback.print_exception(error, file=f)
    click.echo(f"hydrate: internal error: {type(error).__name__}: {error}\n"
               f"  the traceback is in {path}; please report it", err=True)
    sys.exit(3)


class _Terminated(KeyboardInterrupt):
    """SIGTERM: stop as for Ctrl-C (what is being written is finished or rolled back)."""


def _terminate(_signum: int, _frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `hydrate` console script."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="hydrate", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(143 if isinstance(e.__cause__, _Terminated) else 130)
    except PipelineError as e:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")
        click.echo(f"hydrate: error: {e}", err=True)
        sys.exit(e.exit_status)
    except KeyboardInterrupt as e:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(143 if isinstance(e, _Terminated) else 130)
    except Exception as e:
        _crash(e)
