"""Key material kept outside the repository: from the environment, or generated into instance/."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def instance_key(instance_path: Path, name: str, env_var: str, nbytes: int = 32) -> bytes:
    """Return the key named `name`: base64 from `env_var` if set, else a file in instance/.

    The file is created with mode 0600 on first use; production deployments set the variable
    (see README) so that every host shares one key.
    """
    raw = os.environ.get(env_var)
    if raw:
        key = base64.b64decode(raw)
        if len(key) != nbytes:
            raise ValueError(f"{env_var} must be {nbytes} bytes, base64-encoded")
        return key
    path = Path(instance_path) / f"{name}.key"
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    key = secrets.token_bytes(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key


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
