"""What the JSON API's group and meeting endpoints share: who may call them, and the problems
they answer."""

from __future__ import annotations

from core.request import signed_in_required
from partners.schemas import ProblemSchema

FORBIDDEN = {"schema": ProblemSchema, "description": "Not allowed (partner systems never are)"}
NOT_FOUND = {"schema": ProblemSchema, "description": "No such item in a group the caller sees"}
CONFLICT = {"schema": ProblemSchema, "description": "The change clashes with the current state"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields"}


# No operation of groups or meetings declares an access (`core.access`): they are for people
# only, and `partners.oauth.resource` refuses a partner token on every one of them.
DECORATORS = [signed_in_required]
