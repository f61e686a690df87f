"""C2SP tlog-witness (c2sp.org/tlog-witness) both ways: the spec's own examples, the witness's
answers status by status, two real hubs on loopback submitting to each other, a forked or
restored peer refused (409 with the size, 422) and audited with its state unchanged, racing
submissions advancing the state once, and cosignatures checked by an outside implementation
(tlog-scales, from PyPI) and by Ed25519 code written here from the spec, never by notes.py.

Test logs are made here too: an RFC 6962 tree and Ed25519 note signatures written from the
specs, so that the hub's Merkle and note code are not checking themselves.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from tlog_scales import signing as outside_signing
from tlog_scales import tlog as outside_tlog

from audit import log, tlog_witness, witness_submission
from audit import services as audit
from audit import witness as witnesses
from audit.models import AuditCheckpoint, AuditCosignature, AuditEntry, AuditWitness
from core.db import db
from hub.federation import services as federation
from hub.federation import witnessing
from hub.federation.models import PeerHub
from tests.federation.test_two_hubs import (
    SYSTEM,
    Hub,
    Region,
    _connect,
    _org,
    _person,
    _serve,
    _shutdown,
)

EM_DASH = "\u2014"
NORTH_ORIGIN, SOUTH_ORIGIN = "north.hub.test/audit", "south.hub.test/audit"

# --- the spec's examples (tlog-witness.md, tlog-cosignature.md) ---------------------------------

SPEC_REQUEST = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
"""  # noqa: E501 (the spec's example, byte for byte)

SPEC_RESPONSE = """\u2014 witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==
\u2014 witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==
\u2014 witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==
"""  # noqa: E501 (the spec's example, byte for byte)

# tlog-cosignature.md: a checkpoint with a cosignature, and the message that cosignature signs.
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrD"
    "JsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_COSIGNATURE_TIME = 1679315147


def test_the_spec_example_request_parses_and_formats_back_byte_for_byte():
    request = tlog_witness.parse_request(SPEC_REQUEST.encode())
    assert request.old_size == 20852014
    assert len(request.proof) == 4 and all(len(h) == 32 for h in request.proof)
    assert request.checkpoint.origin == "example.com/behind-the-sofa"
    assert request.checkpoint.size == 20852163
    assert base64.b64encode(request.checkpoint.root).decode() == (
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    )
    assert tlog_witness.format_request(request.old_size, request.proof, request.note) == (
        SPEC_REQUEST
    )


def test_the_spec_example_response_is_three_cosignature_lines():
    lines = tlog_witness.cosignature_lines(SPEC_RESPONSE)
    assert [line.split(" ")[1] for line in lines] == [
        "witness.example/w1",
        "witness.example/w1",
        "witness.example/w2",
    ]
    assert "".join(lines) == SPEC_RESPONSE


def test_the_spec_cosignature_example_carries_the_timestamp_of_its_signed_message():
    # base64(key ID || u64 timestamp || Ed25519 signature), per tlog-cosignature.
    blob = base64.b64decode(SPEC_COSIGNATURE.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    assert int.from_bytes(blob[4:12], "big") == SPEC_COSIGNATURE_TIME


def test_a_409_answer_is_the_size_and_a_newline():
    assert tlog_witness.format_size(20852163) == "20852163\n"
    assert tlog_witness.parse_size("20852163\n") == 20852163
    for bad in ("20852163", "020\n", "-1\n", " 1\n", "1\n\n", ""):
        with pytest.raises(ValueError, match="not a tree size"):
            tlog_witness.parse_size(bad)


CHECKPOINT = SPEC_REQUEST.split("\n\n", 1)[1]
HASH = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"old 0\n" + CHECKPOINT.encode(), id="no-empty-line"),
        pytest.param(("old 01\n\n" + CHECKPOINT).encode(), id="leading-zero"),
        pytest.param(("old -1\n\n" + CHECKPOINT).encode(), id="negative"),
        pytest.param(("old 1 \n\n" + CHECKPOINT).encode(), id="trailing-space"),
        pytest.param(("Old 1\n\n" + CHECKPOINT).encode(), id="capital"),
        pytest.param(("old  1\n\n" + CHECKPOINT).encode(), id="two-spaces"),
        pytest.param(("old 1\n" + (HASH + "\n") * 64 + "\n" + CHECKPOINT).encode(), id="64-hashes"),
        pytest.param(("old 1\nnot base64!\n\n" + CHECKPOINT).encode(), id="not-base64"),
        pytest.param(("old 1\n" + HASH[:-4] + "\n\n" + CHECKPOINT).encode(), id="short-hash"),
        pytest.param(
            ("old 1\n" + HASH[:-2] + "x=\n\n" + CHECKPOINT).encode(), id="non-canonical-base64"
        ),
        pytest.param(("old 1\n\n" + CHECKPOINT.split("\n\n")[0] + "\n").encode(), id="unsigned"),
        pytest.param(
            ("old 1\n\n" + CHECKPOINT.replace("20852163", "020852163")).encode(), id="bad-size"
        ),
        pytest.param(b"old 1\n\n\xff\xfe", id="not-utf8"),
        pytest.param(("old 1\r\n\r\n" + CHECKPOINT).encode(), id="crlf"),
        pytest.param(("old 1\n\n" + CHECKPOINT + "x" * 70000).encode(), id="too-large"),
    ],
)
def test_malformed_bodies_are_bad_requests(body):
    with pytest.raises(tlog_witness.Refusal) as refused:
        tlog_witness.parse_request(body)
    assert refused.value.status == 400 and refused.value.reason == tlog_witness.MALFORMED


# --- a log the test controls (RFC 6962 and signed-note written here from the specs) -------------


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1: the Merkle Tree Hash of a list of leaves."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 2.1.2: SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


@dataclass
class Log:
    """A peer's log: an Ed25519 key named by its origin, and its leaves."""

    origin: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    leaves: list[bytes] = field(default_factory=list)

    @property
    def key_id(self) -> bytes:
        public = self.key.public_key().public_bytes_raw()
        return hashlib.sha256(self.origin.encode() + b"\n\x01" + public).digest()[:4]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(b"\x01" + self.key.public_key().public_bytes_raw()).decode()
        return f"{self.origin}+{self.key_id.hex()}+{material}"

    def grow(self, n: int, tag: str = "") -> None:
        self.leaves.extend(f"{tag}entry {len(self.leaves) + i}".encode() for i in range(n))

    def checkpoint(self, size: int | None = None, root: bytes | None = None) -> str:
        size = len(self.leaves) if size is None else size
        root = _mth(self.leaves[:size]) if root is None else root
        text = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = base64.b64encode(self.key_id + self.key.sign(text.encode())).decode()
        return f"{text}\n{EM_DASH} {self.origin} {signature}\n"

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = len(self.leaves) if new is None else new
        return _subproof(old, self.leaves[:new], True) if 0 < old < new else []

    def request(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> str:
        proof = self.proof(old, size) if proof is None else proof
        return tlog_witness.format_request(old, proof, self.checkpoint(size))


def _verify_cosignature_from_spec(text: str, line: str, witness_vkey: str) -> int:
    """tlog-cosignature's Ed25519 cosignature, checked with `cryptography` alone: the line's
    name and key ID match the vkey's, and the signature is over `cosignature/v1`, `time <t>`
    and the checkpoint text. Returns the timestamp."""
    name, key_id_hex, material = witness_vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x04 and len(raw) == 33
    public = raw[1:]
    assert hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4].hex() == key_id_hex
    dash, line_name, blob_b64 = line.rstrip("\n").split(" ")
    assert dash == EM_DASH and line_name == name
    blob = base64.b64decode(blob_b64)
    assert blob[:4].hex() == key_id_hex and len(blob) == 4 + 8 + 64
    timestamp = int.from_bytes(blob[4:12], "big")
    assert 0 < timestamp < 2**63
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
    Ed25519PublicKey.from_public_bytes(public).verify(blob[12:], message)  # raises if not
    return timestamp


def _verify_with_tlog_scales(note: str, *vkeys: str) -> None:
    """The outside implementation: each key's signature on the note must verify."""
    checkpoint = outside_tlog.Checkpoint.from_text(note)
    for vkey in vkeys:
        checkpoint.verify(outside_signing.Vkey.from_string(vkey))  # raises if not


def _with_broken_signature(body: str) -> str:
    """The body with one bit of its last signature flipped (name and key ID still match)."""
    head, _, line = body[:-1].rpartition("\n")
    dash, name, blob = line.split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    return f"{head}\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"


def test_each_check_answers_with_the_status_the_spec_gives():
    peer = Log("peer.example/log")
    peer.grow(9)
    text = peer.checkpoint(5).split("\n\n")[0] + "\n"
    recorded = tlog_witness.Recorded(5, _mth(peer.leaves[:5]))

    def status(body: str, key: str | None = peer.vkey, state=recorded) -> int | str:
        try:
            tlog_witness.check(tlog_witness.parse_request(body), key, state)
        except tlog_witness.Refusal as exc:
            return exc.status
        return "cosign"

    other = Log("peer.example/log")
    assert status(peer.request(5)) == "cosign"
    assert status(peer.request(5, 5)) == "cosign"  # the same checkpoint again
    assert status(peer.request(5), key=None) == 404
    assert status(peer.request(5), key=other.vkey) == 403  # no signature by a trusted key
    assert status(_with_broken_signature(peer.request(5))) == 403  # a trusted key's fails
    assert status(tlog_witness.format_request(10, [], peer.checkpoint())) == 400
    assert status(peer.request(4, proof=peer.proof(4))) == 409
    assert status(peer.request(0)) == 409
    assert status(peer.request(3, 9, peer.proof(3, 9)), state=tlog_witness.Recorded()) == 409
    assert status(peer.request(0, 9), state=tlog_witness.Recorded()) == "cosign"
    assert status(peer.request(0, 9, [b"\0" * 32]), state=tlog_witness.Recorded()) == 422
    empty = Log("peer.example/empty")
    assert status(empty.request(0, 0), key=empty.vkey, state=tlog_witness.Recorded()) == "cosign"
    bad_empty = tlog_witness.format_request(0, [], empty.checkpoint(0, b"\1" * 32))
    assert status(bad_empty, key=empty.vkey, state=tlog_witness.Recorded()) == 422
    assert status(peer.request(5, proof=[b"\2" * 32] * 3)) == 422
    assert status(peer.request(5, 5, [b"\2" * 32])) == 422
    fork = Log("peer.example/log", key=peer.key)
    fork.grow(5, tag="forked ")
    assert status(fork.request(5, 5)) == 422  # two roots for one size
    fork.grow(4, tag="forked ")
    assert status(fork.request(5)) == 422  # a proof from the fork's own tree of size 5
    # What is kept is the checkpoint with the log's verified signature only.
    noisy = peer.checkpoint() + f"{EM_DASH} someone.else/w1 AAAAAAAAAAA=\n"
    kept = tlog_witness.check(
        tlog_witness.parse_request(tlog_witness.format_request(5, peer.proof(5), noisy)),
        peer.vkey,
        recorded,
    )
    assert kept == peer.checkpoint() and text.startswith("peer.example/log\n5\n")


# --- two real hubs on loopback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def region(database_server, tmp_path_factory) -> Iterator[Region]:
    base = tmp_path_factory.mktemp("tlog-witness")
    north = _serve(database_server, base, "north", NORTH_ORIGIN)
    south = _serve(database_server, base, "south", SOUTH_ORIGIN)
    try:
        _connect(north, south)
        yield Region(north, south, base, database_server)
    finally:
        for hub in (north, south):
            _shutdown(database_server, hub)


def _post(url: str, body: str | bytes, content_type: str | None = None) -> tuple[int, str, str]:
    """POST as a tlog client does (by default with no Content-Type, as Go's clients send)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        connection.request(
            "POST",
            parts.path,
            body=body.encode() if isinstance(body, str) else body,
            headers=headers,
        )
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


def _add_checkpoint(hub: Hub) -> str:
    return hub.url + witnessing.WITNESS_PREFIX + "/add-checkpoint"


def _witness_key(hub: Hub) -> str:
    with hub.app.app_context():
        return witnessing.witness_verifier_key()


def _new_peer(hub: Hub) -> tuple[Log, str]:
    """A peer hub registered at `hub` whose log the test writes; its row id."""
    slug = f"peer-{uuid.uuid4().hex[:8]}"
    peer_log = Log(f"{slug}.hub.test/audit")
    with hub.app.app_context():
        peer = federation.add_peer(
            SYSTEM,
            {
                "name": f"Peer {slug}",
                "slug": slug,
                "base_url": f"https://{slug}.hub.test",
                "log_key": peer_log.vkey,
                "region": "Elsewhere",
                "dp_contact_name": "DPO",
                "dp_contact_email": f"dpo@{slug}.example",
            },
        )
        db.session.commit()
        return peer_log, str(peer.id)


def _state(hub: Hub, peer_id: str) -> tuple[int | None, bytes | None, str | None]:
    with hub.app.app_context():
        peer = db.session.get(PeerHub, uuid.UUID(peer_id))
        state = peer.witnessed_size, peer.witnessed_root, peer.last_witness_outcome
        db.session.rollback()
        return state


def _witness_entries(hub: Hub, peer_id: str) -> list[tuple[str, str | None]]:
    with hub.app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.outcome, AuditEntry.reason)
            .where(
                AuditEntry.action == "federation.witness",
                AuditEntry.resource_ids.contains(peer_id),
            )
            .order_by(AuditEntry.seq)
        ).all()
        db.session.rollback()
        return [tuple(row) for row in rows]


def test_a_peer_submits_and_the_cosignature_verifies_with_outside_code(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    witness_key = _witness_key(north)
    peer_log.grow(5)
    status, media, body = _post(_add_checkpoint(north), peer_log.request(0))
    assert (status, media) == (200, "text/plain; charset=utf-8"), body
    [line] = tlog_witness.cosignature_lines(body)
    text = peer_log.checkpoint().split("\n\n")[0] + "\n"
    _verify_cosignature_from_spec(text, line, witness_key)
    _verify_with_tlog_scales(peer_log.checkpoint() + line, peer_log.vkey, witness_key)
    assert _state(north, peer_id) == (5, _mth(peer_log.leaves), "cosigned")

    peer_log.grow(6)  # 11: a consistency proof from 5
    status, _media, body = _post(_add_checkpoint(north), peer_log.request(5))
    assert status == 200, body
    _verify_with_tlog_scales(peer_log.checkpoint() + body, peer_log.vkey, witness_key)
    assert _state(north, peer_id)[0] == 11
    assert _witness_entries(north, peer_id) == [("granted", None), ("granted", None)]

    # The monitoring API serves what was cosigned, with both signatures.
    origin_hash = hashlib.sha256(peer_log.origin.encode()).hexdigest()
    monitored = (
        urllib.request.urlopen(  # noqa: S310
            f"{north.url}{witnessing.WITNESS_PREFIX}/{origin_hash}/checkpoint", timeout=30
        )
        .read()
        .decode()
    )
    assert monitored.startswith(f"{peer_log.origin}\n11\n")
    _verify_with_tlog_scales(monitored, peer_log.vkey, witness_key)


def test_a_stale_old_size_gets_409_with_the_known_size_and_changes_nothing(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    peer_log.grow(7)
    assert _post(_add_checkpoint(north), peer_log.request(0))[0] == 200
    before = _state(north, peer_id)
    peer_log.grow(3)
    for old in (0, 3, 8):
        status, media, body = _post(_add_checkpoint(north), peer_log.request(old))
        assert (status, media, body) == (409, tlog_witness.SIZE_MEDIA_TYPE, "7\n")
        assert tlog_witness.parse_size(body) == 7
    assert _state(north, peer_id) == before
    assert _witness_entries(north, peer_id)[1:] == [("denied", "old_size_mismatch")] * 3
    # With the size it was told, the peer is cosigned.
    assert _post(_add_checkpoint(north), peer_log.request(7))[0] == 200


def test_a_forked_peer_gets_422_is_audited_and_shown_refused_with_its_state_unchanged(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    peer_log.grow(8)
    assert _post(_add_checkpoint(north), peer_log.request(0))[0] == 200
    before = _state(north, peer_id)
    # The same key, another history: rewritten from entry 3 on, then grown.
    fork = Log(peer_log.origin, key=peer_log.key, leaves=peer_log.leaves[:3])
    fork.grow(9, tag="rewritten ")
    status, media, body = _post(_add_checkpoint(north), fork.request(8))
    assert (status, media) == (422, "application/problem+json"), body
    assert "not consistent" in json.loads(body)["detail"]
    status, _media, body = _post(_add_checkpoint(north), fork.request(8, 8))
    assert status == 422 and "two different roots" in json.loads(body)["detail"]
    size, root, outcome = _state(north, peer_id)
    assert (size, root) == before[:2] and outcome == "refused"
    assert _witness_entries(north, peer_id)[1:] == [("denied", "inconsistent_checkpoint")] * 2
    with north.app.app_context():
        dpo = _person(_org(f"North DPO {peer_id[:8]}", f"north-dpo-{peer_id[:8]}"), ["dpo"])
        db.session.commit()
        dpo_id = str(dpo.id)
    html = north.client(dpo_id).get("/audit/integrity").get_data(as_text=True)
    table = html.split('id="peer-witnessing"')[1]
    row = table.split(f"Peer {peer_log.origin.split('.')[0]}")[1].split("</tr>")[0]
    assert "Refused" in row and "two different roots for size 8" in row
    # The honest log is still cosigned from where the witness was.
    peer_log.grow(1)
    assert _post(_add_checkpoint(north), peer_log.request(8))[0] == 200


def test_unknown_logs_impostors_and_malformed_requests_are_refused_and_audited(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    peer_log.grow(2)
    stranger = Log("stranger.example/log")
    stranger.grow(2)
    status, media, _ = _post(_add_checkpoint(north), stranger.request(0))
    assert (status, media) == (404, "application/problem+json")
    impostor = Log(peer_log.origin)  # the peer's origin, another key
    impostor.grow(2)
    assert _post(_add_checkpoint(north), impostor.request(0))[0] == 403
    for body in (b"", b"old 0\n", b"old 1\n\nnot a checkpoint\n"):
        status, media, _ = _post(_add_checkpoint(north), body, "text/plain")
        assert (status, media) == (400, "application/problem+json")
    status, _media, body = _post(
        _add_checkpoint(north), peer_log.request(0), "application/x-www-form-urlencoded"
    )
    assert status == 400 and "text/plain" in json.loads(body)["detail"]
    beyond = tlog_witness.format_request(5, [], peer_log.checkpoint())
    assert _post(_add_checkpoint(north), beyond)[0] == 400
    assert _state(north, peer_id) == (None, None, None)
    assert _witness_entries(north, peer_id) == [
        ("denied", "checkpoint_signature"),
        ("denied", "old_size_beyond_checkpoint"),
    ]
    with north.app.app_context():
        reasons = db.session.scalars(
            sa.select(AuditEntry.reason)
            .where(AuditEntry.action == "federation.witness", AuditEntry.outcome == "denied")
            .order_by(AuditEntry.seq.desc())
            .limit(7)
        ).all()
        details = db.session.scalars(
            sa.select(AuditEntry.details).where(AuditEntry.action == "federation.witness")
        ).all()
        db.session.rollback()
    assert reasons[::-1] == [
        "unknown_log",
        "checkpoint_signature",
        *["malformed_request"] * 4,
        "old_size_beyond_checkpoint",
    ]
    # The audit log holds reason codes, never the caller's text.
    assert not any("not a checkpoint" in (d or "") for d in details)


def test_a_suspended_peer_is_not_witnessed(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    peer_log.grow(3)
    with north.app.app_context():
        peer = db.session.get(PeerHub, uuid.UUID(peer_id))
        federation.update_peer(SYSTEM, peer, {"status": "suspended"})
        db.session.commit()
    assert _post(_add_checkpoint(north), peer_log.request(0))[0] == 404
    assert _state(north, peer_id)[0] is None


def test_racing_submissions_advance_the_state_exactly_once(region):
    north = region.north
    peer_log, peer_id = _new_peer(north)
    peer_log.grow(4)
    assert _post(_add_checkpoint(north), peer_log.request(0))[0] == 200
    peer_log.grow(12)
    # Eight submissions from size 4, to sizes 9..16, all at once.
    bodies = [peer_log.request(4, size) for size in range(9, 17)]
    start = threading.Barrier(len(bodies))
    answers: list[tuple[int, str, str] | None] = [None] * len(bodies)

    def submit(i: int) -> None:
        start.wait()
        answers[i] = _post(_add_checkpoint(north), bodies[i])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = [a[0] for a in answers if a is not None]
    assert len(statuses) == len(bodies)
    assert statuses.count(200) == 1, statuses
    winner = 9 + statuses.index(200)
    assert all(
        a[:3] == (409, tlog_witness.SIZE_MEDIA_TYPE, f"{winner}\n") for a in answers if a[0] != 200
    )
    assert _state(north, peer_id)[:2] == (winner, _mth(peer_log.leaves[:winner]))
    entries = _witness_entries(north, peer_id)
    assert entries.count(("granted", None)) == 2
    assert entries.count(("denied", "old_size_mismatch")) == len(bodies) - 1


# --- the hub as a log, submitting --------------------------------------------------------------


def _peer_of(hub: Hub, origin: str) -> PeerHub:
    """The hub's row for the peer whose log has `origin` (the test's own peers are there too)."""
    return db.session.scalar(sa.select(PeerHub).where(PeerHub.log_origin == origin))


def _cosignatures_by(hub: Hub, witness_key: str) -> list[tuple[int, str, str]]:
    """(tree size, cosignature line, checkpoint note) of each checkpoint the witness cosigned."""
    name = witness_key.split("+")[0]
    with hub.app.app_context():
        rows = db.session.execute(
            sa.select(AuditCheckpoint.size, AuditCosignature.signature_line, AuditCheckpoint.note)
            .join(AuditCosignature, AuditCosignature.checkpoint_id == AuditCheckpoint.id)
            .join(AuditWitness, AuditWitness.id == AuditCosignature.witness_id)
            .where(AuditWitness.name == name)
            .order_by(AuditCheckpoint.size)
        ).all()
        db.session.rollback()
        return [(size, line, note) for size, line, note in rows]


def test_two_hubs_witness_each_other_by_submitting_over_http(region):
    north, south = region.north, region.south
    north_witness, south_witness = _witness_key(north), _witness_key(south)
    for _ in range(2):  # the second round proves consistency from the first
        result = north.cli("audit", "submit-to-witnesses")
        assert result.exit_code == 0, result.output
        assert "/witness: cosigned at size" in result.output
        result = south.cli("audit", "submit-to-witnesses")
        assert result.exit_code == 0, result.output
    ours = _cosignatures_by(north, south_witness)
    theirs = _cosignatures_by(south, north_witness)
    assert len(ours) >= 2 and len(theirs) >= 2
    for rows, log_hub, witness_key in (
        (ours, north, south_witness),
        (theirs, south, north_witness),
    ):
        with log_hub.app.app_context():
            log_key = log.verifier_key()
        for _size, line, note in rows:
            text = note.split("\n\n")[0] + "\n"
            _verify_cosignature_from_spec(text, line + "\n", witness_key)
            _verify_with_tlog_scales(note + line + "\n", log_key, witness_key)
    # Each witness recorded the other's log at the size it cosigned last.
    with south.app.app_context():
        assert _peer_of(south, NORTH_ORIGIN).witnessed_size == ours[-1][0]
        db.session.rollback()
    with north.app.app_context():
        assert _peer_of(north, SOUTH_ORIGIN).witnessed_size == theirs[-1][0]
        db.session.rollback()


def _restored(region: Region, label: str, entries: int) -> Hub:
    """South's log key at another address, with another history of `entries` entries, set up to
    submit to north's witness as south did (a log restored from an old backup, then written)."""
    south = region.south
    fork = _serve(
        region.database_server,
        region.base,
        label,
        SOUTH_ORIGIN,
        signer=Path(south.app.instance_path) / "audit-log.signer",
    )
    north_witness = _witness_key(region.north)
    with fork.app.app_context():
        for n in range(entries):
            audit.record(SYSTEM, "test.restored", "granted", resource_ids=[str(n)])
        org = _org("Northshire hub", f"northshire-{label}", "hub")
        db.session.flush()
        witnesses.register_witness(db.session(), SYSTEM, str(org.id), north_witness)
        witness_submission.set_submission_prefix(
            db.session(), SYSTEM, north_witness.split("+")[0], region.north.url + "/api/v1/witness"
        )
        db.session.commit()
        log.integrate_now(force_checkpoint=True)
    return fork


def test_a_restored_and_rewritten_peer_learns_the_size_by_409_and_is_refused_by_422(region):
    north, south = region.north, region.south
    assert south.cli("audit", "submit-to-witnesses").exit_code == 0
    with north.app.app_context():
        cosigned = _peer_of(north, SOUTH_ORIGIN).witnessed_size
        peer_id = str(_peer_of(north, SOUTH_ORIGIN).id)
        db.session.rollback()
    fork = _restored(region, "rewritten", cosigned + 5)
    try:
        result = fork.cli("audit", "submit-to-witnesses")
        assert result.exit_code == 3, result.output
        assert "refused" in result.output and "422" in result.output
        with fork.app.app_context():
            [entry] = db.session.scalars(
                sa.select(AuditEntry).where(
                    AuditEntry.action == "audit.cosignature", AuditEntry.outcome == "denied"
                )
            ).all()
            assert entry.reason == "witness_inconsistent"
            db.session.rollback()
    finally:
        _shutdown(region.database_server, fork)
    size, _root, outcome = _state(north, peer_id)
    assert size == cosigned and outcome == "refused"
    entries = _witness_entries(north, peer_id)
    # The fork first sent old 0 (it knew of no cosignature): told the size; then refused.
    assert entries[-2:] == [("denied", "old_size_mismatch"), ("denied", "inconsistent_checkpoint")]
    # South itself is cosigned again from the size north kept.
    assert south.cli("audit", "submit-to-witnesses").exit_code == 0
    assert _state(north, peer_id)[2] == "cosigned"


def test_a_peer_restored_from_an_older_backup_is_told_the_witness_is_ahead(region):
    north, south = region.north, region.south
    assert south.cli("audit", "submit-to-witnesses").exit_code == 0
    with north.app.app_context():
        peer_id = str(_peer_of(north, SOUTH_ORIGIN).id)
        db.session.rollback()
    before = _state(north, peer_id)
    fork = _restored(region, "older", 2)
    try:
        result = fork.cli("audit", "submit-to-witnesses")
        assert result.exit_code == 3, result.output
        assert "ahead" in result.output and "older backup" in result.output
    finally:
        _shutdown(region.database_server, fork)
    assert _state(north, peer_id) == before


def test_the_openapi_document_describes_add_checkpoint(region):
    spec = json.loads(
        urllib.request.urlopen(region.north.url + "/api/openapi.json", timeout=30).read()  # noqa: S310
    )
    operation = spec["paths"]["/api/v1/witness/add-checkpoint"]["post"]
    assert operation["security"] == []
    assert tlog_witness.SIZE_MEDIA_TYPE in operation["responses"]["409"]["content"]
    assert {"200", "400", "403", "404", "409", "422"} <= set(operation["responses"])
    assert "/api/v1/witness/{origin_hash}/checkpoint" in spec["paths"]


def test_a_witness_registered_with_a_submission_prefix_keeps_only_https(region):
    for bad in (
        "http://witness.example/",
        "ftp://witness.example",
        "https://",
        "https://w.example/?q=1",
    ):
        with pytest.raises(ValueError, match=r"host|https|query"):
            witness_submission.check_prefix(bad)
    assert witness_submission.check_prefix("https://w.example/tlog/add-checkpoint") == (
        "https://w.example/tlog"
    )
    assert witness_submission.check_prefix("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
