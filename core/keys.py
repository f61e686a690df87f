"""Key material kept outside the repository: from the environment, or generated into instance/."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def instance_secret(
    instance_path: Path,
    filename: str,
    env_var: str,
    make: Callable[[], str],
    check: Callable[[str], object] | None = None,
) -> str:
    """The secret named `filename`: from `env_var` if set (checked by `check`), else a file in
    instance/, made by `make` on first use with mode 0600.

    The one loader of the hub's keys. Several processes may start together (gunicorn's
    workers): the file is written under a temporary name and published with a hard link, which
    fails if another process published first; that process's key is then used, complete.
    Production deployments set the variable (see README) so that every host shares one key.
    """
    raw = os.environ.get(env_var)
    if raw:
        value = raw.strip()
        if check is not None:
            check(value)
        return value
    path = Path(instance_path) / filename
    if path.exists():
        return path.read_text().strip()
    value = make()
    draft = path.with_name(f".{filename}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:  # another process published its key first: use that one
        value = path.read_text().strip()
    finally:
        draft.unlink()
    return value


def instance_key(instance_path: Path, name: str, env_var: str, nbytes: int = 32) -> bytes:
    """A symmetric key of `nbytes` (base64 in `env_var` or instance/`name`.key)."""

    def check(text: str) -> None:
        if len(base64.b64decode(text)) != nbytes:
            raise ValueError(f"{env_var} must be {nbytes} bytes, base64-encoded")

    text = instance_secret(
        instance_path,
        f"{name}.key",
        env_var,
        lambda: base64.b64encode(secrets.token_bytes(nbytes)).decode(),
        check,
    )
    return base64.b64decode(text)


class FieldCipher:
    """AES-256-GCM for secrets stored in the database (TOTP seeds), bound to their purpose."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt with a fresh nonce; `context` (e.g. a person id) is authenticated, not stored."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def decrypt(self, blob: bytes, context: str) -> bytes:
        """Decrypt what `encrypt` produced for the same `context`."""
        return self._aead.decrypt(blob[:12], blob[12:], context.encode())
