"""institution records

Revision ID: 06becb8e7eb4
Revises: 0d865783a123
Create Date: 2026-11-22 05:40:49.851135+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db


def search_index_statements(dialect: str) -> list[str]:
    """Indexes for finding speakers by name despite misspelling, transliteration and word order.

    Besides trigrams of the names, each name's transliteration "skeleton" is indexed: ordered
    string replacements (the same list as `hub.records.speakers.search.SKELETON_RULES`, copied so that
    this migration never changes under it): word-initial vowels become "a", a final "h" goes,
    ph/c/kh/q/gh/th/dh/dj fold, vowels and inner "y" go, doubled letters collapse; so
    "Mohammed", "Muhammad" and "Mohamed" -> "mhmd", "Yusuf" and "Yousef" -> "ysf". It is
    computed in SQL (nested replace() calls), so neither engine needs a stored column for it.
    """
    skeleton_rules = [
        (" a", " #"),
        (" e", " #"),
        (" i", " #"),
        (" o", " #"),
        (" u", " #"),
        (" y", " !"),
        ("h ", " "),
        ("ph", "f"),
        ("c", "k"),
        ("kh", "k"),
        ("q", "k"),
        ("gh", "g"),
        ("th", "t"),
        ("dh", "d"),
        ("dj", "j"),
        ("a", ""),
        ("e", ""),
        ("i", ""),
        ("o", ""),
        ("u", ""),
        ("y", ""),
        *[(c + c, c) for c in "bdfghjklmnprstvwxz"],
        ("#", "a"),
        ("!", "y"),
    ]

    def skeleton_sql(column: str) -> str:
        expression = f"' ' || {column} || ' '"
        for old, new in skeleton_rules:
            expression = f"replace({expression}, '{old}', '{new}')"
        return f"trim({expression})"

    def skeleton_select(column: str) -> str:
        # SQLite's parser stack allows about a dozen nested calls: chain subqueries instead.
        query = f"SELECT ' ' || {column} || ' ' AS s"
        for start in range(0, len(skeleton_rules), 12):
            expression = "s"
            for old, new in skeleton_rules[start : start + 12]:
                expression = f"replace({expression}, '{old}', '{new}')"
            query = f"SELECT {expression} AS s FROM ({query})"  # noqa: S608 (constants)
        return f"SELECT ' ' || trim(s) || ' ' FROM ({query})"  # noqa: S608 (constants)

    if dialect == "postgresql":
        return [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            "CREATE EXTENSION IF NOT EXISTS btree_gin",
            # The skeleton and the search keys as immutable functions, indexed by expression
            # (no stored column). A name's keys are its skeleton words and, for words of five
            # letters or more, each word with one letter deleted (marked "~"), so that one
            # slip in a consonant still meets a key (the query side is in search.py); each key
            # leads with the owner's id prefix, so that a lookup reads one organisation's rows.
            # They are declared costly so that the planner never evaluates them row by row.
            "CREATE FUNCTION speaker_name_skeleton(words text) RETURNS text "
            "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT COST 1000 "
            f"RETURN {skeleton_sql('words')}",
            "CREATE FUNCTION speaker_name_keys(owner uuid, words text) RETURNS text[] "
            "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT COST 10000 "
            "RETURN ARRAY(SELECT left(owner::text, 8) || ':' || k FROM ("
            "SELECT w AS k FROM unnest(string_to_array(speaker_name_skeleton(words), ' ')) AS w "
            "WHERE w <> '' "
            "UNION "
            "SELECT '~' || left(w, i - 1) || substr(w, i + 1) "
            "FROM unnest(string_to_array(speaker_name_skeleton(words), ' ')) AS w, "
            "generate_series(1, length(w)) AS i WHERE length(w) >= 5) AS keys)",
            # (The keys index is not a trigram index; its name ends in _trgm so that the
            # model/migration comparison leaves it out, as it does every search index.)
            "CREATE INDEX ix_speaker_names_keys_trgm ON speaker_names "
            "USING gin (speaker_name_keys(owner_org_id, sorted_tokens))",
            # Led by the owner, for the slower fallback (pg_trgm's % within one organisation).
            "CREATE INDEX ix_speaker_names_owner_sorted_trgm ON speaker_names "
            "USING gin (owner_org_id, sorted_tokens gin_trgm_ops)",
        ]
    return [
        # FTS5 with the trigram tokenizer, kept in step with speaker_names by triggers (their
        # SQL is built from the constant rules above, hence the S608 exemptions).
        "CREATE VIRTUAL TABLE speaker_names_fts USING fts5(normalised, sorted_tokens, "
        "content='speaker_names', content_rowid='id', tokenize='trigram')",
        # The skeletons, space-padded so that a whole word can be matched as a phrase.
        "CREATE VIRTUAL TABLE speaker_names_fts_skeleton USING fts5(skeleton, content='', "
        "tokenize='trigram')",
        "CREATE TRIGGER speaker_names_fts_insert AFTER INSERT ON speaker_names BEGIN "  # noqa: S608
        "INSERT INTO speaker_names_fts(rowid, normalised, sorted_tokens) "
        "VALUES (new.id, new.normalised, new.sorted_tokens); "
        "INSERT INTO speaker_names_fts_skeleton(rowid, skeleton) "
        f"SELECT new.id, ({skeleton_select('new.sorted_tokens')}); END",
        "CREATE TRIGGER speaker_names_fts_delete AFTER DELETE ON speaker_names BEGIN "  # noqa: S608
        "INSERT INTO speaker_names_fts(speaker_names_fts, rowid, normalised, sorted_tokens) "
        "VALUES ('delete', old.id, old.normalised, old.sorted_tokens); "
        "INSERT INTO speaker_names_fts_skeleton(speaker_names_fts_skeleton, rowid, skeleton) "
        f"SELECT 'delete', old.id, ({skeleton_select('old.sorted_tokens')}); END",
        "CREATE TRIGGER speaker_names_fts_update AFTER UPDATE ON speaker_names BEGIN "  # noqa: S608
        "INSERT INTO speaker_names_fts(speaker_names_fts, rowid, normalised, sorted_tokens) "
        "VALUES ('delete', old.id, old.normalised, old.sorted_tokens); "
        "INSERT INTO speaker_names_fts(rowid, normalised, sorted_tokens) "
        "VALUES (new.id, new.normalised, new.sorted_tokens); "
        "INSERT INTO speaker_names_fts_skeleton(speaker_names_fts_skeleton, rowid, skeleton) "
        f"SELECT 'delete', old.id, ({skeleton_select('old.sorted_tokens')}); "
        "INSERT INTO speaker_names_fts_skeleton(rowid, skeleton) "
        f"SELECT new.id, ({skeleton_select('new.sorted_tokens')}); END",
    ]


def drop_search_index_statements(dialect: str) -> list[str]:
    """Undo `search_index_statements` (the extensions stay: other schemas may use them)."""
    if dialect == "postgresql":
        return [
            "DROP INDEX IF EXISTS ix_speaker_names_keys_trgm",
            "DROP INDEX IF EXISTS ix_speaker_names_owner_sorted_trgm",
            "DROP FUNCTION IF EXISTS speaker_name_keys(uuid, text)",
            "DROP FUNCTION IF EXISTS speaker_name_skeleton(text)",
        ]
    return [
        "DROP TRIGGER IF EXISTS speaker_names_fts_insert",
        "DROP TRIGGER IF EXISTS speaker_names_fts_delete",
        "DROP TRIGGER IF EXISTS speaker_names_fts_update",
        "DROP TABLE IF EXISTS speaker_names_fts_skeleton",
        "DROP TABLE IF EXISTS speaker_names_fts",
    ]


revision: str = "06becb8e7eb4"
down_revision: str | None = "0d865783a123"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "distribution",
            sa.Enum(
                "internal",
                "shareable",
                name="distribution",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "organiser_type",
            sa.Enum(
                "staff",
                "society",
                "students_union",
                "external_hirer",
                name="organiser_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organiser_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("synopsis", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("starts_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "venue_kind",
            sa.Enum(
                "on_campus",
                "off_campus",
                "online",
                "hybrid",
                name="venue_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("venue_place", sa.String(length=300), nullable=False),
        sa.Column("branded_or_funded", sa.Boolean(), nullable=False),
        sa.Column(
            "audience",
            sa.Enum(
                "internal",
                "public",
                "ticketed",
                name="audience",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("expected_size", sa.Integer(), nullable=False),
        sa.Column("chair_name", sa.String(length=200), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "escalated",
                "decided",
                "withdrawn",
                name="event_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "approved",
                "approved_with_conditions",
                "postponed",
                "rejected",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("designated", sa.Boolean(), nullable=False),
        sa.Column("senior_officer_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("erased_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_start")),
        sa.CheckConstraint("expected_size >= 0", name=op.f("ck_events_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_events_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_events_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["senior_officer_id"], ["people.id"], name=op.f("fk_events_senior_officer_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_owner_org_id"), ["owner_org_id"], unique=False)
        batch_op.create_index("ix_events_owner_starts", ["owner_org_id", "starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_status"), ["status"], unique=False)

    op.create_table(
        "speakers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "distribution",
            sa.Enum(
                "internal",
                "shareable",
                name="distribution",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "merged",
                "erased",
                name="record_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_speakers_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["speakers.id"], name=op.f("fk_speakers_merged_into_id_speakers")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_speakers_owner_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speakers")),
    )
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_speakers_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index("ix_speakers_owner_status", ["owner_org_id", "status"], unique=False)

    op.create_table(
        "advisory_ratings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "distribution",
            sa.Enum(
                "internal",
                "shareable",
                name="distribution",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "rating",
            sa.Enum(
                "red",
                "amber",
                "green",
                name="rating",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("issued_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["people.id"], name=op.f("fk_advisory_ratings_issued_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_advisory_ratings_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_advisory_ratings_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory_ratings")),
    )
    with op.batch_alter_table("advisory_ratings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisory_ratings_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_advisory_ratings_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "assertions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "distribution",
            sa.Enum(
                "internal",
                "shareable",
                name="distribution",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "fact",
                "opinion",
                name="assertion_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("stated_on", sa.Date(), nullable=False),
        sa.Column(
            "confidence",
            sa.Enum(
                "high",
                "medium",
                "low",
                name="confidence",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("special_category", sa.Boolean(), nullable=False),
        sa.Column("criminal_offence", sa.Boolean(), nullable=False),
        sa.Column("review_by", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "disputed",
                "corrected",
                "withdrawn",
                name="assertion_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["people.id"], name=op.f("fk_assertions_created_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_assertions_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_assertions_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assertions")),
    )
    with op.batch_alter_table("assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assertions_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assertions_speaker_id"), ["speaker_id"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "distribution",
            sa.Enum(
                "internal",
                "shareable",
                name="distribution",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "approved",
                "approved_with_conditions",
                "postponed",
                "rejected",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column(
            "reason_category",
            sa.Enum(
                "health_and_safety",
                "procedural",
                "prevent",
                "other",
                name="reason_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("lawful_speech_finding", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_by_appeal", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["people.id"], name=op.f("fk_decisions_decided_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_decisions_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_decisions_owner_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_decisions_owner_org_id"), ["owner_org_id"], unique=False
        )

    op.create_table(
        "event_speakers",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "speaker",
                "panellist",
                "chair",
                name="speaker_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_speakers_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_event_speakers_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("event_id", "speaker_id", name=op.f("pk_event_speakers")),
    )
    with op.batch_alter_table("event_speakers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_speakers_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "event_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "escalated",
                "decided",
                "withdrawn",
                name="from_event_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "escalated",
                "decided",
                "withdrawn",
                name="to_event_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["people.id"],
            name=op.f("fk_event_status_changes_changed_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_status_changes_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_status_changes")),
    )
    with op.batch_alter_table("event_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_status_changes_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "post_event_reports",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "conditions_held",
            sa.Enum(
                "yes",
                "partly",
                "no",
                "not_applicable",
                name="conditions_held",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("incidents", sa.Text(), nullable=False),
        sa.Column("reported_by_id", sa.Uuid(), nullable=True),
        sa.Column("reported_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_post_event_reports_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["reported_by_id"],
            ["people.id"],
            name=op.f("fk_post_event_reports_reported_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_post_event_reports")),
    )
    op.create_table(
        "risk_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "self_assessment",
            sa.Enum(
                "not_started",
                "in_progress",
                "completed",
                "not_needed",
                name="self_assessment_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("self_assessed_by_id", sa.Uuid(), nullable=True),
        sa.Column("self_assessed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "local_review",
            sa.Enum(
                "not_started",
                "in_progress",
                "completed",
                "not_needed",
                name="local_review_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reviewed_by_id", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=False),
        sa.Column(
            "escalation",
            sa.Enum(
                "not_started",
                "in_progress",
                "completed",
                "not_needed",
                name="escalation_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("escalation_reason", sa.Text(), nullable=False),
        sa.Column("escalated_by_id", sa.Uuid(), nullable=True),
        sa.Column("escalated_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("likelihood", sa.Integer(), nullable=True),
        sa.Column("impact", sa.Integer(), nullable=True),
        sa.Column(
            "rating",
            sa.Enum(
                "low",
                "medium",
                "high",
                "very_high",
                name="risk_rating",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "impact IS NULL OR impact BETWEEN 1 AND 5",
            name=op.f("ck_risk_assessments_impact_range"),
        ),
        sa.CheckConstraint(
            "likelihood IS NULL OR likelihood BETWEEN 1 AND 5",
            name=op.f("ck_risk_assessments_likelihood_range"),
        ),
        sa.ForeignKeyConstraint(
            ["escalated_by_id"],
            ["people.id"],
            name=op.f("fk_risk_assessments_escalated_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_risk_assessments_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["people.id"],
            name=op.f("fk_risk_assessments_reviewed_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["self_assessed_by_id"],
            ["people.id"],
            name=op.f("fk_risk_assessments_self_assessed_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_assessments")),
        sa.UniqueConstraint("event_id", name=op.f("uq_risk_assessments_event_id")),
    )
    op.create_table(
        "speaker_affiliations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["speaker_id"],
            ["speakers.id"],
            name=op.f("fk_speaker_affiliations_speaker_id_speakers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_affiliations")),
    )
    with op.batch_alter_table("speaker_affiliations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_speaker_affiliations_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "speaker_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "alias",
                "transliteration",
                "former_name",
                name="alias_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_speaker_aliases_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_aliases")),
    )
    with op.batch_alter_table("speaker_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_speaker_aliases_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "speaker_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_id", sa.Uuid(), nullable=False),
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column("merged_by_id", sa.Uuid(), nullable=True),
        sa.Column("merged_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kept_id"], ["speakers.id"], name=op.f("fk_speaker_merges_kept_id_speakers")
        ),
        sa.ForeignKeyConstraint(
            ["merged_by_id"], ["people.id"], name=op.f("fk_speaker_merges_merged_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"], ["speakers.id"], name=op.f("fk_speaker_merges_merged_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_merges")),
        sa.UniqueConstraint("merged_id", name=op.f("uq_speaker_merges_merged_id")),
    )
    with op.batch_alter_table("speaker_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_speaker_merges_kept_id"), ["kept_id"], unique=False)

    op.create_table(
        "speaker_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("normalised", sa.String(length=200), nullable=False),
        sa.Column("sorted_tokens", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_speaker_names_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_speaker_names_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_names")),
    )
    with op.batch_alter_table("speaker_names", schema=None) as batch_op:
        batch_op.create_index("ix_speaker_names_owner_org_id", ["owner_org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_speaker_names_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "speaker_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("retrieved_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_speaker_sources_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_sources")),
    )
    with op.batch_alter_table("speaker_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_speaker_sources_speaker_id"), ["speaker_id"], unique=False
        )

    op.create_table(
        "speaker_topics",
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_speaker_topics_speaker_id_speakers")
        ),
        sa.PrimaryKeyConstraint("speaker_id", "topic", name=op.f("pk_speaker_topics")),
    )
    op.create_table(
        "advisory_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requesting_org_id", sa.Uuid(), nullable=False),
        sa.Column("coordinator_org_id", sa.Uuid(), nullable=False),
        sa.Column("police_org_id", sa.Uuid(), nullable=True),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "submitted",
                "routed",
                "answered",
                "declined",
                "withdrawn",
                name="advisory_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("submitted_by_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("routed_by_id", sa.Uuid(), nullable=True),
        sa.Column("routed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("routing_note", sa.Text(), nullable=False),
        sa.Column("answered_by_id", sa.Uuid(), nullable=True),
        sa.Column("answered_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rating_id", sa.Uuid(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["people.id"],
            name=op.f("fk_advisory_requests_answered_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["coordinator_org_id"],
            ["organisations.id"],
            name=op.f("fk_advisory_requests_coordinator_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_advisory_requests_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["police_org_id"],
            ["organisations.id"],
            name=op.f("fk_advisory_requests_police_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"],
            ["advisory_ratings.id"],
            name=op.f("fk_advisory_requests_rating_id_advisory_ratings"),
        ),
        sa.ForeignKeyConstraint(
            ["requesting_org_id"],
            ["organisations.id"],
            name=op.f("fk_advisory_requests_requesting_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["routed_by_id"], ["people.id"], name=op.f("fk_advisory_requests_routed_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["speakers.id"], name=op.f("fk_advisory_requests_speaker_id_speakers")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["people.id"],
            name=op.f("fk_advisory_requests_submitted_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory_requests")),
    )
    with op.batch_alter_table("advisory_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisory_requests_coordinator_org_id"),
            ["coordinator_org_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_advisory_requests_police_org_id"), ["police_org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_advisory_requests_requesting_org_id"),
            ["requesting_org_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_advisory_requests_speaker_id"), ["speaker_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_advisory_requests_status"), ["status"], unique=False)

    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("lodged_by_id", sa.Uuid(), nullable=True),
        sa.Column("lodged_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "pending",
                "upheld",
                "overturned",
                "varied",
                name="appeal_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["people.id"], name=op.f("fk_appeals_decided_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_appeals_decision_id_decisions")
        ),
        sa.ForeignKeyConstraint(
            ["lodged_by_id"], ["people.id"], name=op.f("fk_appeals_lodged_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_decision_id"), ["decision_id"], unique=False)

    op.create_table(
        "assertion_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assertion_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "disputed",
                "corrected",
                "withdrawn",
                name="assertion_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assertion_id"],
            ["assertions.id"],
            name=op.f("fk_assertion_revisions_assertion_id_assertions"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["people.id"],
            name=op.f("fk_assertion_revisions_changed_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assertion_revisions")),
        sa.UniqueConstraint(
            "assertion_id", "version", name=op.f("uq_assertion_revisions_assertion_id_version")
        ),
    )
    with op.batch_alter_table("assertion_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assertion_revisions_assertion_id"), ["assertion_id"], unique=False
        )

    op.create_table(
        "mitigations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "independent_chair",
                "balancing_speaker",
                "protected_qa",
                "recording",
                "ticketing_id_checks",
                "stewards_security",
                "code_of_conduct",
                "advance_materials",
                "members_only",
                "freedom_of_speech_notice",
                name="mitigation_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "agreed",
                "in_place",
                "not_possible",
                name="mitigation_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["risk_assessments.id"],
            name=op.f("fk_mitigations_assessment_id_risk_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mitigations")),
    )
    with op.batch_alter_table("mitigations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mitigations_assessment_id"), ["assessment_id"], unique=False
        )

    op.create_table(
        "mitigations_considered",
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "independent_chair",
                "balancing_speaker",
                "protected_qa",
                "recording",
                "ticketing_id_checks",
                "stewards_security",
                "code_of_conduct",
                "advance_materials",
                "members_only",
                "freedom_of_speech_notice",
                name="mitigation_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("why_insufficient", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_mitigations_considered_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("decision_id", "type", name=op.f("pk_mitigations_considered")),
    )
    op.create_table(
        "triage_answers",
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column(
            "question",
            sa.Enum(
                "proscribed_links",
                "drawing_into_terrorism",
                "unlawful_speech",
                "safety_protest_capacity",
                "controversy_elsewhere",
                "touring_speaker",
                "segregation_demands",
                name="triage_question",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "answer",
            sa.Enum(
                "yes",
                "no",
                "unsure",
                name="triage_response",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["risk_assessments.id"],
            name=op.f("fk_triage_answers_assessment_id_risk_assessments"),
        ),
        sa.PrimaryKeyConstraint("assessment_id", "question", name=op.f("pk_triage_answers")),
    )
    # ### end Alembic commands ###

    for statement in search_index_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_search_index_statements(op.get_bind().dialect.name):
        op.execute(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("triage_answers")
    op.drop_table("mitigations_considered")
    with op.batch_alter_table("mitigations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mitigations_assessment_id"))

    op.drop_table("mitigations")
    with op.batch_alter_table("assertion_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assertion_revisions_assertion_id"))

    op.drop_table("assertion_revisions")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeals_decision_id"))

    op.drop_table("appeals")
    with op.batch_alter_table("advisory_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_requests_status"))
        batch_op.drop_index(batch_op.f("ix_advisory_requests_speaker_id"))
        batch_op.drop_index(batch_op.f("ix_advisory_requests_requesting_org_id"))
        batch_op.drop_index(batch_op.f("ix_advisory_requests_police_org_id"))
        batch_op.drop_index(batch_op.f("ix_advisory_requests_coordinator_org_id"))

    op.drop_table("advisory_requests")
    op.drop_table("speaker_topics")
    with op.batch_alter_table("speaker_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speaker_sources_speaker_id"))

    op.drop_table("speaker_sources")
    with op.batch_alter_table("speaker_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speaker_names_speaker_id"))
        batch_op.drop_index("ix_speaker_names_owner_org_id")

    op.drop_table("speaker_names")
    with op.batch_alter_table("speaker_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speaker_merges_kept_id"))

    op.drop_table("speaker_merges")
    with op.batch_alter_table("speaker_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speaker_aliases_speaker_id"))

    op.drop_table("speaker_aliases")
    with op.batch_alter_table("speaker_affiliations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_speaker_affiliations_speaker_id"))

    op.drop_table("speaker_affiliations")
    op.drop_table("risk_assessments")
    op.drop_table("post_event_reports")
    with op.batch_alter_table("event_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_status_changes_event_id"))

    op.drop_table("event_status_changes")
    with op.batch_alter_table("event_speakers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_speakers_speaker_id"))

    op.drop_table("event_speakers")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_decisions_event_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assertions_speaker_id"))
        batch_op.drop_index(batch_op.f("ix_assertions_owner_org_id"))

    op.drop_table("assertions")
    with op.batch_alter_table("advisory_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_ratings_speaker_id"))
        batch_op.drop_index(batch_op.f("ix_advisory_ratings_owner_org_id"))

    op.drop_table("advisory_ratings")
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.drop_index("ix_speakers_owner_status")
        batch_op.drop_index(batch_op.f("ix_speakers_owner_org_id"))

    op.drop_table("speakers")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_status"))
        batch_op.drop_index("ix_events_owner_starts")
        batch_op.drop_index(batch_op.f("ix_events_owner_org_id"))

    op.drop_table("events")
    # ### end Alembic commands ###
