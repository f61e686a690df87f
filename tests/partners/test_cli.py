"""`flask partners create-org / create-person`: clear errors, exit status 2 on bad arguments."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from partners.models import Organisation, Person

ORG_ARGS = [
    "partners",
    "create-org",
    "--name",
    "Ashdown University",
    "--slug",
    "ashdown",
    "--kind",
    "university",
    "--region",
    "Testshire",
    "--dp-contact-name",
    "Ann Dee",
    "--dp-contact-email",
    "dpo@ashdown.example",
]


@pytest.fixture
def runner(cli):
    return cli


def test_create_org_and_person_prints_an_enrolment_link(runner):
    result = runner.invoke(args=ORG_ARGS)
    assert result.exit_code == 0, result.output
    assert "Created organisation ashdown" in result.output
    result = runner.invoke(
        args=[
            "partners",
            "create-person",
            "--org",
            "ashdown",
            "--name",
            "Ida Test",
            "--email",
            "ida@ashdown.example",
            "--role",
            "dpo",
            "--role",
            "org_admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "/enrol/" in result.output
    person = db.session.scalar(sa.select(Person).where(Person.email == "ida@ashdown.example"))
    assert person.roles == {"dpo", "org_admin"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--slug", "Not A Slug"), "Slug must be lower-case"),
        (("--dp-contact-email", "nope"), "correct format"),
        (("--kind", "pub"), "Invalid value for '--kind'"),
    ],
)
def test_bad_org_arguments_exit_2_with_a_specific_message(runner, change, message):
    args = list(ORG_ARGS)
    args[args.index(change[0]) + 1] = change[1]
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Organisation)
            .where(Organisation.name == "Ashdown University")
        )
        == 0
    )


def test_missing_option_exits_2(runner):
    result = runner.invoke(args=["partners", "create-org", "--name", "X"])
    assert result.exit_code == 2
    assert "Missing option" in result.output


def test_duplicate_slug_exits_2(runner):
    assert runner.invoke(args=ORG_ARGS).exit_code == 0
    result = runner.invoke(args=ORG_ARGS)
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_person_in_unknown_org_is_an_error(runner):
    result = runner.invoke(
        args=[
            "partners",
            "create-person",
            "--org",
            "nowhere",
            "--name",
            "A B",
            "--email",
            "a@b.example",
            "--role",
            "dpo",
        ]
    )
    assert result.exit_code != 0
    assert "no organisation 'nowhere'" in result.output


def test_person_with_role_not_fitting_org_exits_2(runner):
    runner.invoke(args=ORG_ARGS)
    result = runner.invoke(
        args=[
            "partners",
            "create-person",
            "--org",
            "ashdown",
            "--name",
            "A B",
            "--email",
            "a@b.example",
            "--role",
            "coordinator",
        ]
    )
    assert result.exit_code == 2
    assert "cannot be held" in result.output
