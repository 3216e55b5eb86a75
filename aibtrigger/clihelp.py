"""What keeps the CLI helpful at its edges: expected failures become one line and an exit code (never
a traceback), output piped into `head` ends quietly, and a mistyped template name gets suggestions."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable

BROKEN_PIPE = 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)


def run_guarded(command: Callable[[], int]) -> int:
    """Run a CLI command; translate the conditions a user can meet into a message on stderr."""
    from aibtrigger.errors import AibTriggerError, first_line

    try:
        code = command()
        sys.stdout.flush()  # inside the guard: a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    except AibTriggerError as exc:
        return _fail(str(exc))
    except TimeoutError as exc:
        return _fail(str(exc), code=1)
    except Exception as exc:  # an SDK error is expected when storage is unreachable; anything else is a bug
        if not _is_azure_error(exc):
            raise
        return _fail(f"storage did not answer as expected: {first_line(exc)}. {_STORAGE_HINT}")


_STORAGE_HINT = (
    "Is the dev host (`aibtrigger dev`) still running, or are AzureWebJobsStorage and AIBTRIGGER_CATALOG_PATH right?"
)


def _fail(message: str, *, code: int = 2) -> int:
    print(f"aibtrigger: {message}", file=sys.stderr)
    return code


def _is_azure_error(exc: BaseException) -> bool:
    from azure.core.exceptions import AzureError

    return isinstance(exc, AzureError)


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so Python's final flush does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def require_template(catalog, name: str, *, history: Callable[[str], bool] = lambda _: False) -> None:
    """Raise UnknownTemplateError naming the nearest catalog names when `name` is not in the catalog
    (unless `history(name)` says records of it exist, e.g. a template since removed)."""
    from aibtrigger.errors import UnknownTemplateError

    known = list(catalog.by_name)
    if name in known or history(name):
        return
    raise UnknownTemplateError(
        f"template {name!r} is not in the catalog ({os.environ.get('AIBTRIGGER_CATALOG_PATH', '?')}): "
        f"{suggest(name, known)}"
    )


def suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(close)}?"
    return f"its templates are {', '.join(sorted(known))}" if known else "it lists no templates"
