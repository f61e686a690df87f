"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def limits_off() -> bool:
    """True when this app runs without rate limits. The limiter is one object shared by every
    app in the process, and its own `enabled` flag follows the last app bound to it; each
    limit asks the app serving the request instead."""
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def sign_in_limit() -> object:
    """The limit on posting a sign-in form: 30 a minute from one address."""
    return limiter.limit("30 per minute", methods=["POST"], exempt_when=limits_off)


api = Api()
