"""The demo region, Northshire: fictional organisations and people in every role."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyotp
import sqlalchemy as sa

from agreements import demo as agreements_demo
from core.db import db
from core.security import Actor
from hub.groups import demo as groups_demo
from hub.records import demo as records_demo
from partners import services, signin
from partners.models import Organisation, Person

REGION = "Northshire"
DEMO_BANNER = "Northshire is a fictional region; every organisation and person in it is invented."

ORGANISATIONS = [
    # slug, name, kind, data protection contact
    (
        "northshire-hub",
        "Northshire Information Sharing Hub (operator)",
        "hub",
        "Hub Data Protection Desk",
        "dpo@hub.northshire.example",
    ),
    (
        "university-of-northshire",
        "University of Northshire",
        "university",
        "Dara Protheroe",
        "dpo@uni-northshire.example",
    ),
    (
        "ravensmoor-university",
        "Ravensmoor University",
        "university",
        "Ruth Cawley",
        "dataprotection@ravensmoor.example",
    ),
    (
        "fellgate-metropolitan",
        "Fellgate Metropolitan University",
        "university",
        "Felix Oduya",
        "dpo@fellgate-met.example",
    ),
    (
        "northshire-su",
        "University of Northshire Students' Union",
        "students_union",
        "Sam Ellery",
        "governance@northshire-su.example",
    ),
    (
        "northshire-police-prevent",
        "Northshire Police Prevent Team",
        "police_prevent",
        "Insp. Maud Penrose",
        "dpo@northshire-police.example",
    ),
    (
        "northshire-coordinator",
        "Northshire Regional Prevent Coordinator (HE/FE)",
        "regional_coordinator",
        "Colm Ridley",
        "coordinator-dp@northshire-region.example",
    ),
    (
        "northshire-council",
        "Northshire County Council",
        "local_authority",
        "Lena Marsh",
        "information.governance@northshire-council.example",
    ),
]

PEOPLE = [
    # organisation slug, name, email, roles
    ("northshire-hub", "Hana Hubbard", "admin@hub.northshire.example", ["org_admin"]),
    ("northshire-hub", "Orin Logwood", "auditor@hub.northshire.example", ["auditor", "dpo"]),
    ("university-of-northshire", "Uma Adeyemi", "admin@uni-northshire.example", ["org_admin"]),
    (
        "university-of-northshire",
        "Evan Eventide",
        "events@uni-northshire.example",
        ["events_officer"],
    ),
    (
        "university-of-northshire",
        "Priya Lathom",
        "prevent@uni-northshire.example",
        ["prevent_lead"],
    ),
    ("university-of-northshire", "Dara Protheroe", "dpo@uni-northshire.example", ["dpo"]),
    (
        "university-of-northshire",
        "Simone Sayle",
        "signatory@uni-northshire.example",
        ["signatory", "senior_officer"],
    ),
    ("university-of-northshire", "Aldous Checkley", "auditor@uni-northshire.example", ["auditor"]),
    ("ravensmoor-university", "Rhodri Vance", "admin@ravensmoor.example", ["org_admin"]),
    ("ravensmoor-university", "Rosa Quill", "events@ravensmoor.example", ["events_officer"]),
    (
        "ravensmoor-university",
        "Ravi Hollin",
        "prevent@ravensmoor.example",
        ["prevent_lead", "signatory"],
    ),
    ("ravensmoor-university", "Ruth Cawley", "dpo@ravensmoor.example", ["dpo"]),
    (
        "fellgate-metropolitan",
        "Fenella Grout",
        "admin@fellgate-met.example",
        ["org_admin", "signatory"],
    ),
    (
        "fellgate-metropolitan",
        "Fergus Pell",
        "events@fellgate-met.example",
        ["events_officer", "prevent_lead"],
    ),
    ("fellgate-metropolitan", "Felix Oduya", "dpo@fellgate-met.example", ["dpo"]),
    ("northshire-su", "Suki Brandreth", "admin@northshire-su.example", ["org_admin", "signatory"]),
    ("northshire-su", "Stan Olowe", "events@northshire-su.example", ["events_officer"]),
    (
        "northshire-police-prevent",
        "Sgt. Petra Nolan",
        "prevent@northshire-police.example",
        ["prevent_lead"],
    ),
    (
        "northshire-police-prevent",
        "Insp. Maud Penrose",
        "dpo@northshire-police.example",
        ["dpo", "signatory"],
    ),
    (
        "northshire-police-prevent",
        "Piers Tolland",
        "admin@northshire-police.example",
        ["org_admin"],
    ),
    (
        "northshire-coordinator",
        "Colm Ridley",
        "coordinator@northshire-region.example",
        ["coordinator", "signatory"],
    ),
    (
        "northshire-coordinator",
        "Cara Whitlow",
        "admin@northshire-region.example",
        ["org_admin", "dpo"],
    ),
    (
        "northshire-council",
        "Lena Marsh",
        "prevent@northshire-council.example",
        ["prevent_lead", "dpo"],
    ),
    (
        "northshire-council",
        "Luca Thorne",
        "admin@northshire-council.example",
        ["org_admin", "signatory"],
    ),
]


@dataclass(frozen=True)
class DemoAccount:
    """One demo sign-in: who, where, which roles, and the TOTP secret for their authenticator."""

    email: str
    name: str
    organisation: str
    roles: list[str]
    totp_secret: str


def is_seeded() -> bool:
    """True once any organisation exists (the demo is only seeded into an empty hub)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) > 0


def seed_demo(password: str | None = None) -> tuple[str, list[DemoAccount]]:
    """Create the Northshire region; returns the shared demo password and the accounts.

    Everyone gets the same random password and a TOTP secret already enrolled, so that the
    printed sign-in details work at once. Runs as the hub operator, so every change is audited.
    """
    actor = Actor.system("demo-seed")
    password = password or _demo_password()
    organisations: dict[str, Organisation] = {}
    for slug, name, kind, dp_name, dp_email in ORGANISATIONS:
        organisations[slug] = services.create_organisation(
            actor,
            {
                "slug": slug,
                "name": name,
                "kind": kind,
                "region": REGION,
                "dp_contact_name": dp_name,
                "dp_contact_email": dp_email,
            },
        )
    accounts = []
    people: dict[str, Person] = {}
    password_hash = signin.hash_password(password)
    for slug, name, email, roles in PEOPLE:
        new = services.create_person(
            actor, organisations[slug], {"name": name, "email": email, "roles": roles}
        )
        person = new.person
        person.password_hash = password_hash
        secret = pyotp.random_base32()
        signin.set_totp_secret(person, secret)
        accounts.append(DemoAccount(email, name, organisations[slug].name, roles, secret))
        people[email] = person
    db.session.flush()
    records_demo.seed_records(organisations, people)
    db.session.flush()
    agreements_demo.seed_agreements(organisations, people)
    db.session.flush()
    groups_demo.seed_groups(organisations, people)
    db.session.flush()
    return password, accounts


def _demo_password() -> str:
    words = [
        "harbour",
        "lantern",
        "meadow",
        "copper",
        "thistle",
        "orchard",
        "pebble",
        "kestrel",
        "willow",
        "granite",
        "saffron",
        "beacon",
    ]
    return "-".join(secrets.choice(words) for _ in range(3)) + f"-{secrets.randbelow(90) + 10}"


def _open_line(base_url: str) -> str:
    return f"Open {base_url.rstrip('/')}/ and sign in with any account below."


OPEN_LINE = re.compile(r"^Open \S+ and sign in with any account below\.$", re.MULTILINE)


def credentials_text(base_url: str, password: str, accounts: list[DemoAccount]) -> str:
    """The sign-in details `make run` prints (and keeps in instance/demo-credentials.txt)."""
    lines = [
        "Prevent Information Sharing Hub: demo region",
        DEMO_BANNER,
        "",
        _open_line(base_url),
        f"Password for every demo account: {password}",
        "Second factor: add the TOTP secret to an authenticator app, or print the current",
        "code with:  make demo-code EMAIL=<email>",
        "",
        f"{'email':<42} {'roles':<30} {'TOTP secret':<34} organisation",
    ]
    for account in accounts:
        lines.append(
            f"{account.email:<42} {','.join(account.roles):<30} {account.totp_secret:<34} "
            f"{account.organisation}"
        )
    return "\n".join(lines) + "\n"


def credentials_path(instance_path: Path | str) -> Path:
    """Where the demo's sign-in details are kept (git-ignored)."""
    return Path(instance_path) / "demo-credentials.txt"


def write_credentials(instance_path: Path | str, text: str) -> Path:
    """Keep the demo sign-in details in instance/ (git-ignored), readable by the owner only."""
    path = credentials_path(instance_path)
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def readdress_credentials(instance_path: Path | str, base_url: str) -> str | None:
    """The kept sign-in details, their address changed to `base_url` (the hub may be served on
    another port than when it was seeded); None when the demo was never seeded here."""
    path = credentials_path(instance_path)
    if not path.exists():
        return None
    text = OPEN_LINE.sub(_open_line(base_url), path.read_text(), count=1)
    write_credentials(instance_path, text)
    return text
