"""The ``aekit`` command line.

Each sub-command lives in its own module and is added to the group here. ``main`` turns user
mistakes (:class:`~aekit.errors.AekitError`, bad option values) into one line on stderr and a
non-zero exit status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import warnings
from typing import TextIO

import click

from aekit.cli import apps, catalog, plot, recipes, report, train, use
from aekit.errors import AekitError, AekitWarning


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="aekit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """aekit: train, inspect and use autoencoders.

    Start with `aekit train` (a small MLP autoencoder on 5,000 bundled MNIST digits), then
    `aekit evaluate RUN`, `aekit sample RUN`, ... on the run directory it writes.
    """
    # Every command runs models on batches; freed batch memory is reused, not faulted back in,
    # and no command traces with TorchDynamo, so none waits for torch to import it.
    # The thread count follows the cores other processes leave free (training/threads.py).
    from aekit.training.allocator import keep_freed_memory
    from aekit.training.internals import defer_dynamo_import
    from aekit.training.threads import ThreadCount, threads_from_environment

    keep_freed_memory()
    defer_dynamo_import()
    ctx.obj = ThreadCount(threads_from_environment())


for command in (
    *train.COMMANDS,
    *use.COMMANDS,
    *catalog.COMMANDS,
    *plot.COMMANDS,
    *report.COMMANDS,
    *apps.COMMANDS,
    *recipes.COMMANDS,
):
    cli.add_command(command)


# click >= 8.2 raises this for a bare `aekit`; older versions print the help themselves
_NO_ARGUMENTS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m aekit``."""
    warnings.showwarning = _show_warning
    try:
        code = cli.main(args=argv, prog_name="aekit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except _NO_ARGUMENTS as exc:  # plain `aekit`: the help, as `aekit --help` prints it
        click.echo(exc.format_message())
        code = 0
    except click.Abort:  # Ctrl-C (or end of input) outside a training loop
        _fail("interrupted", 130)
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "), exc.exit_code)
    except AekitError as exc:
        if _echo_of_another_rank(exc):  # that rank (or rank 0) says it
            sys.exit(exc.exit_code)
        _fail(str(exc).replace("\n", " "), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _echo_of_another_rank(exc: AekitError) -> bool:
    from aekit.training.distributed import Echoed, quiet_rank

    return isinstance(exc, Echoed) and quiet_rank()


def _fail(message: str, code: int) -> None:
    click.echo(f"aekit: error: {message}", err=True)
    sys.exit(code)


_python_show_warning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """aekit's own warnings as one line each (clear of a progress bar); others as Python
    shows them."""
    if not issubclass(category, AekitWarning):
        _python_show_warning(message, category, filename, lineno, file, line)
        return
    from tqdm.auto import tqdm

    tqdm.write(f"aekit: warning: {message}", file=sys.stderr)
