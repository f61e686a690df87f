"""Permissions as data: a domain's action-keyed rules, each a predicate and the words of its
refusal, asked by the pages (`allows`, what to offer) and enforced by the services (`require`,
the audited refusal), so a refusal is written once whichever door it comes through."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import PermissionDenied
from core.security import Actor


@dataclass(frozen=True)
class Rule:
    """What allows an action on a target (None: no target yet), and what its refusal says."""

    allows: Callable[[Actor, Any], bool]
    refusal: str


class Rules:
    """One domain's rules by action. A refusal names `resource_type` and the id it is given,
    else the target's id when `names_target` is set."""

    def __init__(
        self, rules: Mapping[str, Rule], *, resource_type: str, names_target: bool = False
    ) -> None:
        self.rules = dict(rules)
        self.resource_type = resource_type
        self.names_target = names_target

    def allows(self, actor: Actor, action: str, target: Any = None) -> bool:
        """Whether `actor` may take `action` (on `target`)."""
        return self.rules[action].allows(actor, target)

    def require(
        self,
        actor: Actor,
        action: str,
        target: Any = None,
        *,
        resource_type: str | None = None,
        resource_id: Any = None,
    ) -> None:
        """Refuse `action` (403, audited at the edge) unless `actor` may take it."""
        rule = self.rules[action]
        if rule.allows(actor, target):
            return
        if resource_id is None and self.names_target and target is not None:
            resource_id = target.id
        raise PermissionDenied(
            rule.refusal,
            reason="not_permitted",
            audit={
                "action": action,
                "resource_type": resource_type or self.resource_type,
                "resource_ids": [str(resource_id)] if resource_id else [],
            },
        )
