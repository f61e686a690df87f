"""What every CLI command shares: input errors that exit with status 2, and the system actor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from core.errors import HubError, ValidationFailed


class CliInputError(click.ClickException):
    """Bad arguments or input: a clear message on stderr and exit status 2."""

    exit_code = 2


def translate_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the services' errors into CLI messages (validation: exit 2; refusals: exit 1)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationFailed as exc:
            lines = [exc.detail]
            for field, messages in exc.errors.items():
                lines.extend(f"  {field}: {message}" for message in messages)
            raise CliInputError("\n".join(dict.fromkeys(lines))) from exc
        except HubError as exc:
            raise click.ClickException(exc.detail) from exc

    return wrapper
