"""The sharing benchmark's scene (bench/sharing_bench.py): what each agreement gives the
searching organisation, which agreement should cover each provider (worked out independently of
the service), and the check that every partner result is minimised exactly as that agreement
says."""

from __future__ import annotations

import uuid
from typing import Any

SEARCHER = 0  # the searching organisation's index


#: What a schedule entry gives the searcher, by name (None: existence only). "withheld" is
#: spelt out where it matters; the agreement's validation drops it, as for any schedule.
PROFILES: dict[str, dict[str, str] | None] = {
    "full": {
        "display_name": "full",
        "aliases": "full",
        "affiliations": "full",
        "topics": "full",
        "sources": "full",
        "appearances": "full",
    },
    "masked": {
        "display_name": "masked",
        "aliases": "masked",
        "affiliations": "masked",
        "topics": "full",
        "sources": "masked",
    },
    "pseudonymised": {
        "display_name": "pseudonymised",
        "aliases": "pseudonymised",
        "topics": "full",
        "appearances": "pseudonymised",
    },
    "aliases_withheld": {
        "display_name": "full",
        "aliases": "withheld",
        "topics": "full",
        "sources": "masked",
    },
    "names_only": {"display_name": "full"},
    "existence_only": None,
}

#: (reference, type, parties, [(provider, recipient, profile)]): ten agreements, eight with
#: the searcher (organisation 0). Providers 1, 2, 3 and 5 are covered by two agreements each,
#: so the one giving most is used; 11-13 show agreements that give the searcher nothing.
AGREEMENTS: list[tuple[str, str, list[int], list[tuple[int, int, str]]]] = [
    ("BENCH-SHARE-01", "reciprocal", [0, 1, 2, 3],
     [(1, 0, "full"), (2, 0, "masked"), (3, 0, "pseudonymised"),
      (0, 1, "names_only"), (0, 2, "names_only"), (0, 3, "names_only")]),
    ("BENCH-SHARE-02", "reciprocal", [0, 1, 4],
     [(1, 0, "masked"), (4, 0, "aliases_withheld"), (0, 1, "names_only"), (0, 4, "names_only")]),
    ("BENCH-SHARE-03", "one_way", [5, 0], [(5, 0, "existence_only")]),
    ("BENCH-SHARE-04", "reciprocal", [0, 5, 6],
     [(5, 0, "masked"), (6, 0, "full"), (0, 5, "names_only"), (0, 6, "names_only")]),
    ("BENCH-SHARE-05", "one_way", [7, 0], [(7, 0, "pseudonymised")]),
    ("BENCH-SHARE-06", "one_way", [8, 0], [(8, 0, "existence_only")]),
    ("BENCH-SHARE-07", "reciprocal", [0, 2, 9],
     [(2, 0, "names_only"), (9, 0, "masked"), (0, 2, "names_only"), (0, 9, "names_only")]),
    ("BENCH-SHARE-08", "reciprocal", [0, 3, 10],
     [(3, 0, "existence_only"), (10, 0, "full"), (0, 3, "names_only"), (0, 10, "names_only")]),
    ("BENCH-SHARE-09", "reciprocal", [11, 12], [(11, 12, "full"), (12, 11, "full")]),
    ("BENCH-SHARE-10", "one_way", [0, 13], [(0, 13, "full")]),
]  # fmt: skip


def _given(profile: str) -> dict[str, str]:
    return {k: v for k, v in (PROFILES[profile] or {}).items() if v != "withheld"}


def expected_covers() -> dict[int, tuple[str, str]]:
    """For each provider to the searcher: the (reference, profile) that should be used, worked
    out here independently of the service: not existence-only first, then most fields."""
    best: dict[int, tuple[tuple[bool, int], str, str]] = {}
    for reference, _kind, _parties, schedule in AGREEMENTS:
        for provider, recipient, profile in schedule:
            if recipient != SEARCHER:
                continue
            rank = (PROFILES[profile] is not None, len(_given(profile)))
            if provider not in best or rank > best[provider][0]:
                best[provider] = (rank, reference, profile)
    return {p: (ref, prof) for p, (_r, ref, prof) in best.items()}


# --- minimisation check -------------------------------------------------------------------


def require(condition: bool, detail: Any = "") -> None:
    """An assertion that `python -O` does not strip."""
    if not condition:
        raise AssertionError(detail)


def check_minimised(app: Any, shown: list[Any], org_ids: list[uuid.UUID]) -> dict[str, int]:
    """Every partner result the full path returned against the record as held: disclosed under
    the agreement expected for its provider, only the fields that agreement gives, each at its
    level (full values equal, masked ones masked, pseudonymised ones pseudonyms), and nothing of
    the display name in what is masked, pseudonymised or existence-only. Counts by profile."""
    from agreements.policy import MASK
    from core.db import db
    from hub.records import shareable
    from hub.records.models import Speaker

    index = {str(o): n for n, o in enumerate(org_ids)}
    expected = expected_covers()
    counts: dict[str, int] = {}
    with app.app_context():
        for result in shown:
            provider = index[result.owner_org_id]
            reference, profile = expected[provider]
            require(result.disclosed_under["reference"] == reference, (result, reference))
            speaker = db.session.get(Speaker, uuid.UUID(result.speaker_id))
            held = shareable.speaker(speaker).values
            data = result.data
            if PROFILES[profile] is None:
                require(result.existence_only and set(data) == {"owner", "contact"}, result)
            else:
                levels = _given(profile)
                require(set(data) == {f for f in levels if f in held}, (result, levels))
                for name, level in levels.items():
                    value, raw = data[name], held[name]
                    items = value if isinstance(value, list) else [value]
                    raws = raw if isinstance(raw, list) else [raw]
                    require(len(items) == len(raws), (name, value, raw))
                    if level == "full":
                        require(items == raws, (name, value, raw))
                    elif level == "masked":
                        for item, original in zip(items, raws, strict=True):
                            require(MASK in item and item != original, (name, item, original))
                    elif level == "pseudonymised":
                        require(all(i.startswith("psn:") for i in items), (name, value))
            if profile != "full" and profile != "aliases_withheld":
                require(speaker.display_name not in repr(data), (speaker.display_name, data))
            if profile == "aliases_withheld":
                require("aliases" not in data, data)
            counts[profile] = counts.get(profile, 0) + 1
        db.session.rollback()
    for profile in ("full", "masked", "pseudonymised", "existence_only"):
        require(bool(counts.get(profile)), f"no {profile} result was checked: {counts}")
    return counts
