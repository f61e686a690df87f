"""What every CLI command shares: one unit of work per command (`unit_of_work`, the CLI's
edge, as `hub.web.edge` is the web's), and services' errors as CLI messages (input errors exit
with status 2, refusals with 1)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from core.db import db
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


def unit_of_work(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command as one transaction: committed when it returns, rolled back on any error;
    services' errors become CLI messages. Commands never commit themselves (long-running
    workers, which commit each round, are the exception and say so)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = db.session()
        try:
            result = command(*args, **kwargs)
        except (SystemExit, click.exceptions.Exit):
            session.commit()  # an exit status is the command's answer, not a failure
            raise
        except BaseException:
            session.rollback()
            raise
        session.commit()
        return result

    return translate_errors(wrapper)
