"""What `verify` found: the problems, each at a leaf index where it can be pinned to one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One thing that does not hold, at a leaf index where it can be pinned to one."""

    message: str
    index: int | None = None


@dataclass
class Report:
    """What `verify` found."""

    tree_size: int = 0
    checkpoints: int = 0
    cosigned: int = 0
    external_checked: bool = False
    external_size: int | None = None  # the size the checkpoint file signed, once it verified
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing_from_external(self) -> int:
        """How many entries the checkpoint file signed that the log does not hold (a log
        restored from a backup older than the checkpoint); 0 when it holds them all."""
        if self.external_size is None:
            return 0
        return max(0, self.external_size - self.tree_size)

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def add(self, message: str, index: int | None = None) -> None:
        self.problems.append(Problem(message, index))

    def summary(self) -> str:
        """A human summary naming the first bad index."""
        if self.ok:
            extra = "; agrees with the checkpoint file" if self.external_checked else ""
            return (
                f"OK: {self.tree_size} entries and {self.checkpoints} signed checkpoints "
                f"verified{extra}."
            )
        lines = [f"FAILED: {len(self.problems)} problem(s) in a log of {self.tree_size} entries."]
        if self.first_bad_index is not None:
            lines.append(f"First bad index: {self.first_bad_index}.")
        lines.extend(f"- {p.message}" for p in self.problems[:50])
        if len(self.problems) > 50:
            lines.append(f"- ... and {len(self.problems) - 50} more")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "checkpoints": self.checkpoints,
            "first_bad_index": self.first_bad_index,
            "external_checked": self.external_checked,
            "problems": [{"index": p.index, "message": p.message} for p in self.problems],
        }
