"""Settings, read once from `HUB_*` environment variables and `DATABASE_URL`."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


class ConfigurationError(RuntimeError):
    """The hub was asked to start with settings it must refuse."""


#: How email leaves the hub (HUB_MAIL_BACKEND) and how SMTP is protected (HUB_SMTP_TLS).
MAIL_BACKENDS = ("smtp", "notify", "dev", "console")
SMTP_TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_MAIL_FROM = "Prevent Information Sharing Hub <no-reply@hub.invalid>"


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r} (use true or false)")


@dataclass
class Settings:
    """Every setting the hub reads; each maps to one environment variable (see README)."""

    env: str = "development"  # HUB_ENV: development | production | test
    instance_path: Path = DEFAULT_INSTANCE  # HUB_INSTANCE_PATH
    database_url: str = ""  # DATABASE_URL (default: SQLite in the instance folder)
    secret_key: str = ""  # HUB_SECRET_KEY (default: generated into instance/ in development)
    require_mfa: bool = True  # HUB_REQUIRE_MFA
    base_url: str = "http://127.0.0.1:8000"  # HUB_BASE_URL, the address partners use
    origin: str = ""  # HUB_LOG_ORIGIN, the audit log's checkpoint origin line
    ratelimit_storage_uri: str = "memory://"  # HUB_RATELIMIT_STORAGE_URI (redis://... in prod)
    session_hours: int = 8  # HUB_SESSION_HOURS, absolute lifetime of a signed-in session
    idle_minutes: int = 60  # HUB_IDLE_MINUTES, a session unused this long ends
    lockout_threshold: int = 10  # HUB_LOCKOUT_THRESHOLD, failures before the account locks
    lockout_minutes: int = 15  # HUB_LOCKOUT_MINUTES
    password_time_cost: int = 3  # HUB_PASSWORD_TIME_COST (argon2id iterations)
    password_memory_kib: int = 65536  # HUB_PASSWORD_MEMORY_KIB (argon2id memory)
    allow_insecure_production: bool = False  # HUB_ALLOW_INSECURE_PRODUCTION
    ratelimit_enabled: bool = True  # HUB_RATELIMIT_ENABLED (off only for load tests)
    token_minutes: int = 5  # HUB_TOKEN_MINUTES, lifetime of partner API access tokens
    dpop_require_nonce: bool = False  # HUB_DPOP_REQUIRE_NONCE: every DPoP proof echoes a nonce
    api_rate_limit: str = "600 per minute"  # HUB_API_RATE_LIMIT, per OAuth client
    # HUB_OAUTH_RATE_LIMIT: token, revocation and introspection requests, per claimed client id
    # and per address (each has its own budget of this many).
    oauth_rate_limit: str = "60 per minute"
    # HUB_AUDIT_INTEGRATE_AFTER_COMMIT: each web process integrates new audit entries in a
    # background thread; turn off when a dedicated `audit integrate --follow` process runs.
    audit_integrate_after_commit: bool = True
    # HUB_FEDERATION_DEADLINE_SECONDS: how long a federated search waits for peer hubs.
    federation_deadline_seconds: float = 3.0
    # HUB_PEER_WITNESS_INTERVAL_SECONDS: witness peer hubs' logs every so often from a
    # background thread (0: off; run `flask --app wsgi federation witness-peers` from cron).
    peer_witness_interval_seconds: int = 0
    # HUB_AUDIT_INTEGRATE_INTERVAL_SECONDS: each web process also integrates on this timer (and
    # once at start-up), so entries left pending by a crash never wait for the next commit.
    # 0 turns the timer off (the test suite integrates explicitly).
    audit_integrate_interval_seconds: float = 5.0
    # Database deadlines. HUB_DB_CONNECT_TIMEOUT: seconds to open a connection.
    # HUB_DB_STATEMENT_TIMEOUT: seconds one statement may run (the server cancels it, and a
    # watchdog in the hub closes a connection whose server stops answering a while after).
    # HUB_DB_POOL_TIMEOUT: seconds to wait for a free pooled connection.
    # HUB_DB_READY_TIMEOUT: the deadline of /readyz's own check.
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 30.0
    db_pool_timeout: float = 5.0
    db_ready_timeout: float = 2.0
    # HUB_RETRY_AFTER_SECONDS: what a 503 tells clients to wait when the database is away.
    retry_after_seconds: int = 5
    # Email. HUB_MAIL_BACKEND: smtp | notify | dev (kept in the instance folder, shown at
    # /dev/mail in development) | console (printed). HUB_MAIL_FROM: the From header.
    mail_backend: str = "dev"
    mail_from: str = DEFAULT_MAIL_FROM
    # HUB_SMTP_*: the relay. TLS: starttls (upgrade on the plain port), ssl (implicit TLS,
    # usually port 465) or none (only for a relay on this machine). HUB_SMTP_CA_FILE: a CA
    # bundle to trust instead of the system's (a private relay's certificate).
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: str = "starttls"
    smtp_timeout: float = 10.0
    smtp_ca_file: str = ""
    # HUB_NOTIFY_*: GOV.UK Notify. The template has two personalisation fields, ((subject))
    # and ((body)). HUB_NOTIFY_BASE_URL is Notify's API (changed only to test against a
    # stand-in).
    notify_api_key: str = ""
    notify_template_id: str = ""
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    # HUB_MAIL_SEND_AFTER_COMMIT: each web process sends queued email from a background thread
    # after commits; turn off when a dedicated `mail deliver --follow` process runs.
    # HUB_MAIL_SEND_INTERVAL_SECONDS: it also sends what is due (retries) this often (0: off).
    mail_send_after_commit: bool = True
    mail_send_interval_seconds: float = 30.0
    # The witness policy. HUB_AUDIT_WITNESS_QUORUM: a checkpoint is "witnessed" once this many
    # registered, unrevoked witnesses have cosigned it. HUB_AUDIT_WITNESSES: the names of the
    # witnesses that count, comma-separated (empty: every registered, unrevoked witness).
    # HUB_AUDIT_WITNESSED_MAX_AGE_HOURS: the integrity page warns when the newest witnessed
    # checkpoint is older than this.
    audit_witness_quorum: int = 1
    audit_witnesses: str = ""
    audit_witnessed_max_age_hours: float = 24.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env in {"development", "test"}

    @property
    def audit_witness_names(self) -> tuple[str, ...]:
        """The witnesses HUB_AUDIT_WITNESSES names, in its order (empty: any registered one)."""
        return tuple(name.strip() for name in self.audit_witnesses.split(",") if name.strip())

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from the environment, converting each to its declared type."""
        environ = dict(os.environ if environ is None else environ)
        settings = cls()
        names = {
            "env": "HUB_ENV",
            "instance_path": "HUB_INSTANCE_PATH",
            "database_url": "DATABASE_URL",
            "secret_key": "HUB_SECRET_KEY",
            "require_mfa": "HUB_REQUIRE_MFA",
            "base_url": "HUB_BASE_URL",
            "origin": "HUB_LOG_ORIGIN",
            "ratelimit_storage_uri": "HUB_RATELIMIT_STORAGE_URI",
            "session_hours": "HUB_SESSION_HOURS",
            "idle_minutes": "HUB_IDLE_MINUTES",
            "lockout_threshold": "HUB_LOCKOUT_THRESHOLD",
            "lockout_minutes": "HUB_LOCKOUT_MINUTES",
            "password_time_cost": "HUB_PASSWORD_TIME_COST",
            "password_memory_kib": "HUB_PASSWORD_MEMORY_KIB",
            "allow_insecure_production": "HUB_ALLOW_INSECURE_PRODUCTION",
            "ratelimit_enabled": "HUB_RATELIMIT_ENABLED",
            "token_minutes": "HUB_TOKEN_MINUTES",
            "dpop_require_nonce": "HUB_DPOP_REQUIRE_NONCE",
            "api_rate_limit": "HUB_API_RATE_LIMIT",
            "oauth_rate_limit": "HUB_OAUTH_RATE_LIMIT",
            "audit_integrate_after_commit": "HUB_AUDIT_INTEGRATE_AFTER_COMMIT",
            "federation_deadline_seconds": "HUB_FEDERATION_DEADLINE_SECONDS",
            "peer_witness_interval_seconds": "HUB_PEER_WITNESS_INTERVAL_SECONDS",
            "audit_integrate_interval_seconds": "HUB_AUDIT_INTEGRATE_INTERVAL_SECONDS",
            "db_connect_timeout": "HUB_DB_CONNECT_TIMEOUT",
            "db_statement_timeout": "HUB_DB_STATEMENT_TIMEOUT",
            "db_pool_timeout": "HUB_DB_POOL_TIMEOUT",
            "db_ready_timeout": "HUB_DB_READY_TIMEOUT",
            "retry_after_seconds": "HUB_RETRY_AFTER_SECONDS",
            "mail_backend": "HUB_MAIL_BACKEND",
            "mail_from": "HUB_MAIL_FROM",
            "smtp_host": "HUB_SMTP_HOST",
            "smtp_port": "HUB_SMTP_PORT",
            "smtp_username": "HUB_SMTP_USERNAME",
            "smtp_password": "HUB_SMTP_PASSWORD",
            "smtp_tls": "HUB_SMTP_TLS",
            "smtp_timeout": "HUB_SMTP_TIMEOUT",
            "smtp_ca_file": "HUB_SMTP_CA_FILE",
            "notify_api_key": "HUB_NOTIFY_API_KEY",
            "notify_template_id": "HUB_NOTIFY_TEMPLATE_ID",
            "notify_base_url": "HUB_NOTIFY_BASE_URL",
            "mail_send_after_commit": "HUB_MAIL_SEND_AFTER_COMMIT",
            "mail_send_interval_seconds": "HUB_MAIL_SEND_INTERVAL_SECONDS",
            "audit_witness_quorum": "HUB_AUDIT_WITNESS_QUORUM",
            "audit_witnesses": "HUB_AUDIT_WITNESSES",
            "audit_witnessed_max_age_hours": "HUB_AUDIT_WITNESSED_MAX_AGE_HOURS",
        }
        types = {f.name: f.type for f in fields(cls)}
        for attr, var in names.items():
            if var not in environ:
                continue
            raw = environ[var]
            kind = types[attr]
            try:
                if kind == "bool":
                    value: Any = _bool(raw)
                elif kind == "int":
                    value = int(raw)
                elif kind == "float":
                    value = float(raw)
                elif kind == "Path":
                    value = Path(raw)
                else:
                    value = raw
            except ValueError as exc:
                raise ConfigurationError(f"{var}: {exc}") from exc
            setattr(settings, attr, value)
        return settings

    def apply_overrides(self, overrides: dict[str, Any]) -> None:
        """Apply settings given to `create_app(config=...)`, lower-case names or Flask keys."""
        known = {f.name for f in fields(self)}
        for key, value in overrides.items():
            name = key.lower()
            if name in known:
                setattr(self, name, Path(value) if name == "instance_path" else value)
            else:
                self.extra[key] = value

    def finalise(self) -> None:
        """Fill development defaults and refuse unsafe production settings."""
        self.instance_path = Path(self.instance_path)
        self.instance_path.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.instance_path / 'hub.sqlite3'}"
        if not self.origin:
            host = self.base_url.split("://", 1)[-1].rstrip("/")
            self.origin = f"{host}/audit"
        if self.env not in {"development", "production", "test"}:
            raise ConfigurationError(
                f"HUB_ENV must be development, production or test, not {self.env!r}"
            )
        self._check_mail()
        self._check_witness_policy()
        if self.env == "production" and not self.allow_insecure_production:
            problems = []
            if not self.secret_key:
                problems.append("HUB_SECRET_KEY is not set")
            if self.database_url.startswith("sqlite"):
                problems.append("DATABASE_URL points at SQLite")
            if self.base_url.startswith("http://"):
                problems.append("HUB_BASE_URL is not https")
            if self.ratelimit_storage_uri.startswith("memory://"):
                problems.append("HUB_RATELIMIT_STORAGE_URI keeps counts per process")
            if self.mail_backend in {"dev", "console"}:
                problems.append(f"HUB_MAIL_BACKEND is {self.mail_backend} (mail is not sent)")
            if self.mail_backend == "smtp" and self.mail_from == DEFAULT_MAIL_FROM:
                problems.append("HUB_MAIL_FROM is not set (mail would come from hub.invalid)")
            if self.mail_backend == "smtp" and self.smtp_tls == "none":
                problems.append("HUB_SMTP_TLS is none (mail would cross the network in clear)")
            if problems:
                raise ConfigurationError(
                    "refusing to start in production with demo defaults: "
                    + "; ".join(problems)
                    + " (set HUB_ALLOW_INSECURE_PRODUCTION=true to override knowingly)"
                )
        if not self.secret_key:
            self.secret_key = _instance_secret(self.instance_path / "secret_key")

    def _check_mail(self) -> None:
        """Refuse mail settings that cannot work, whatever the environment."""
        if self.mail_backend not in MAIL_BACKENDS:
            raise ConfigurationError(
                f"HUB_MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, "
                f"not {self.mail_backend!r}"
            )
        if self.smtp_tls not in SMTP_TLS_MODES:
            raise ConfigurationError(
                f"HUB_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, not {self.smtp_tls!r}"
            )
        if self.mail_backend == "notify" and not (self.notify_api_key and self.notify_template_id):
            raise ConfigurationError(
                "HUB_MAIL_BACKEND is notify: set HUB_NOTIFY_API_KEY and HUB_NOTIFY_TEMPLATE_ID"
            )

    def _check_witness_policy(self) -> None:
        """Refuse a witness policy that could never be met or names no witness properly."""
        if self.audit_witness_quorum < 1:
            # Quorum 0 would call every signed checkpoint "witnessed", which says nothing.
            raise ConfigurationError(
                f"HUB_AUDIT_WITNESS_QUORUM must be at least 1, not {self.audit_witness_quorum}"
            )
        names = self.audit_witness_names
        for name in names:
            # Witness names are signed-note key names: no spaces, no '+'.
            if "+" in name or any(c.isspace() for c in name):
                raise ConfigurationError(
                    f"HUB_AUDIT_WITNESSES: {name!r} is not a witness name "
                    "(names have no spaces and no '+'; separate them with commas)"
                )
        if len(set(names)) != len(names):
            raise ConfigurationError("HUB_AUDIT_WITNESSES names a witness twice")
        if names and self.audit_witness_quorum > len(names):
            raise ConfigurationError(
                f"HUB_AUDIT_WITNESS_QUORUM is {self.audit_witness_quorum} but HUB_AUDIT_WITNESSES "
                f"names only {len(names)}: no checkpoint could ever be witnessed"
            )
        if not self.audit_witnessed_max_age_hours > 0:
            raise ConfigurationError(
                "HUB_AUDIT_WITNESSED_MAX_AGE_HOURS must be more than 0, "
                f"not {self.audit_witnessed_max_age_hours}"
            )


def _instance_secret(path: Path) -> str:
    """Return the secret stored at `path`, generating it on first use (never committed)."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
