"""Receipts people can keep: a real receipt from the hub proves its entry against the latest
witnessed checkpoint (cosignatures included), and the standalone example script in examples/,
run as its own process without the hub's code, accepts it and refuses every forgery."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tlog_scales.signing import Vkey, VkeySet
from tlog_scales.tlog import Checkpoint as OutsideCheckpoint
from tlog_scales.tlog import InclusionProof

from audit import log, merkle, notes
from audit import services as audit
from audit import witness as witnesses
from core.db import db

VERIFIER = Path(__file__).resolve().parents[2] / "examples" / "verify_receipt.py"


@pytest.fixture
def reader(make_org, make_person):
    return make_person(make_org(kind="hub"), ["auditor"])


@pytest.fixture
def hub(client, reader, make_org, system):
    """A log of 5 entries whose checkpoint one of two registered witnesses cosigned, grown by 3
    more entries since; `client` is signed in as an auditor."""
    for i in range(5):
        audit.record(system, "test.receipt", "granted", resource_ids=[str(i)])
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    keys = {}
    for name in ("witness.one.example", "witness.two.example"):
        keys[name] = notes.make_cosigner_key(name)
        witnesses.register_witness(
            db.session(), system, str(make_org().id), notes.verifier_key_from_signer(keys[name])
        )
    note = client.get("/api/v1/audit/checkpoint").get_data(as_text=True)
    line = notes.cosign_checkpoint(notes.split_note(note)[0], keys["witness.one.example"], 17)
    response = client.post(
        "/api/v1/audit/cosignatures", data=note + line, content_type="text/plain"
    )
    assert response.status_code == 201
    for i in range(3):
        audit.record(system, "test.receipt.later", "granted", resource_ids=[str(i)])
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    client.sign_in(reader)
    witnessed_size = notes.parse_checkpoint(notes.split_note(note)[0]).size
    return {"keys": keys, "witnessed_size": witnessed_size}


def _vkey(key: str) -> str:
    return notes.verifier_key_from_signer(key)


def _leaf(client, index: int) -> str:
    """The entry's exact leaf bytes, base64, as the hub gives them."""
    body = client.get(f"/api/v1/audit/entries?start={index}&end={index + 1}").json
    (entry,) = body["entries"]
    return entry["leaf"]


def _run(tmp_path, receipt: str, *args: str) -> subprocess.CompletedProcess:
    """The DPO's step: save the receipt and run the example script on it, isolated (python -I:
    neither this repository nor any user site is on its path)."""
    path = tmp_path / "entry.tlog-proof"
    path.write_text(receipt, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )


def _flip(receipt: str, line_number: int) -> str:
    """The receipt with one byte flipped inside the base64 data of one line."""
    lines = receipt.split("\n")
    line = lines[line_number]
    prefix, _, data = line.rpartition(" ")
    raw = bytearray(base64.b64decode(data))
    raw[len(raw) // 2] ^= 0x01
    lines[line_number] = (prefix + " " if prefix else "") + base64.b64encode(raw).decode()
    return "\n".join(lines)


def test_a_receipt_proves_its_entry_against_the_witnessed_checkpoint(client, hub, tmp_path):
    response = client.get("/api/v1/audit/entries/2/receipt")
    assert response.status_code == 200
    assert response.headers["Hub-Receipt-Checkpoint"] == "witnessed"
    receipt = response.get_data(as_text=True)
    assert "\u2014 witness.one.example " in receipt
    one = _vkey(hub["keys"]["witness.one.example"])
    leaf = base64.b64decode(_leaf(client, 2))
    proof, checkpoint, _ = notes.verify_tlog_proof(
        receipt, merkle.leaf_hash(leaf), log.verifier_key(), witnesses=[one], quorum=1
    )
    assert proof.index == 2 and checkpoint.size == hub["witnessed_size"]

    # An outside implementation (tlog-scales) checks the same signatures and inclusion proof.
    parsed = notes.parse_tlog_proof(receipt)
    outside = OutsideCheckpoint.from_text(parsed.checkpoint_note)
    outside.verify(Vkey.from_string(log.verifier_key()))
    valid = VkeySet(Vkey.from_string(one)).verify(outside.signatures, outside)
    assert [v.name for v, _ in valid] == ["witness.one.example"]
    InclusionProof(2, outside.size, list(parsed.proof)).check(
        merkle.leaf_hash(leaf), outside.root_hash
    )


def test_the_example_script_accepts_a_real_receipt(client, hub, tmp_path):
    receipt = client.get("/api/v1/audit/entries/3/receipt").get_data(as_text=True)
    one = _vkey(hub["keys"]["witness.one.example"])
    result = _run(
        tmp_path,
        receipt,
        "--leaf",
        _leaf(client, 3),
        "--log-key",
        log.verifier_key(),
        "--witness",
        one,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: entry 3 is in ")
    assert f"at size {hub['witnessed_size']}" in result.stdout
    assert "cosigned by witness.one.example" in result.stdout

    # The same, with the keys and the quorum from the hub's published witness policy: one of
    # the two registered witnesses.
    policy = client.get("/api/v1/audit/witness-policy").json
    assert policy["quorum"] == 1 and len(policy["witnesses"]) == 2
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    result = _run(tmp_path, receipt, "--leaf", _leaf(client, 3), "--policy", "policy.json")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("proof hash", "does not lead to the checkpoint's root hash"),
        ("root hash", "does not verify"),
        ("log signature", "does not verify"),
        ("cosignature", "does not verify"),
    ],
)
def test_the_example_script_refuses_a_flipped_byte(client, hub, tmp_path, where, reason):
    receipt = client.get("/api/v1/audit/entries/1/receipt").get_data(as_text=True)
    lines = receipt.split("\n")
    blank = lines.index("")  # after the proof lines, before the checkpoint
    number = {
        "proof hash": 2,  # header, index, then the hashes
        "root hash": blank + 3,  # origin, size, root
        "log signature": blank + 5,
        "cosignature": blank + 6,
    }[where]
    forged = _flip(receipt, number)
    assert forged != receipt
    result = _run(
        tmp_path,
        forged,
        "--leaf",
        _leaf(client, 1),
        "--log-key",
        log.verifier_key(),
        "--witness",
        _vkey(hub["keys"]["witness.one.example"]),
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED:") and reason in result.stdout


def test_the_example_script_refuses_the_wrong_leaf_and_the_wrong_keys(client, hub, tmp_path):
    receipt = client.get("/api/v1/audit/entries/1/receipt").get_data(as_text=True)
    one = _vkey(hub["keys"]["witness.one.example"])
    leaf = _leaf(client, 1)
    wrong_leaf = _run(
        tmp_path, receipt, "--leaf", _leaf(client, 0), "--log-key", log.verifier_key()
    )
    assert wrong_leaf.returncode == 1 and "root hash" in wrong_leaf.stdout

    # Another log key under the same name: the log's signature is not one it knows.
    impostor = notes.verifier_key_from_signer(notes.make_signer_key(log.origin()))
    result = _run(tmp_path, receipt, "--leaf", leaf, "--log-key", impostor, "--witness", one)
    assert result.returncode == 1 and "not signed by the log key" in result.stdout

    # Another witness key under the same name: its cosignature does not count.
    stranger = _vkey(notes.make_cosigner_key("witness.one.example"))
    result = _run(
        tmp_path, receipt, "--leaf", leaf, "--log-key", log.verifier_key(), "--witness", stranger
    )
    assert result.returncode == 1
    assert "has 0 valid cosignatures, the policy needs 1" in result.stdout


def test_the_example_script_refuses_too_few_cosignatures_for_the_policy(client, hub, tmp_path):
    receipt = client.get("/api/v1/audit/entries/0/receipt").get_data(as_text=True)
    args = ["--leaf", _leaf(client, 0), "--log-key", log.verifier_key()]
    for key in hub["keys"].values():
        args += ["--witness", _vkey(key)]
    # Both witnesses given, both needed: only one cosigned.
    result = _run(tmp_path, receipt, *args, "--quorum", "2")
    assert result.returncode == 1
    assert "has 1 valid cosignatures, the policy needs 2" in result.stdout
    assert _run(tmp_path, receipt, *args, "--quorum", "1").returncode == 0


def test_an_entry_newer_than_the_witnessed_checkpoint_gets_a_signed_receipt(client, hub, tmp_path):
    index = hub["witnessed_size"]  # the first entry after the witnessed checkpoint
    response = client.get(f"/api/v1/audit/entries/{index}/receipt")
    assert response.status_code == 200
    assert response.headers["Hub-Receipt-Checkpoint"] == "signed"
    receipt = response.get_data(as_text=True)
    assert "witness.one.example" not in receipt
    args = ["--leaf", _leaf(client, index), "--log-key", log.verifier_key()]
    assert _run(tmp_path, receipt, *args).returncode == 0  # the log's signature alone
    one = _vkey(hub["keys"]["witness.one.example"])
    result = _run(tmp_path, receipt, *args, "--witness", one, "--quorum", "1")
    assert result.returncode == 1 and "has 0 valid cosignatures" in result.stdout


def test_the_json_exports_receipts_are_chosen_as_the_apis(client, hub):
    """The DPO's JSON export proves each entry against the same checkpoint as the receipt
    endpoint (one rule): the witnessed one, with its cosignatures, where it holds the entry."""
    body = client.get("/audit/export.json").json
    kinds = {}
    for item in body["entries"]:
        response = client.get(f"/api/v1/audit/entries/{item['index']}/receipt")
        assert item["receipt_checkpoint"] == response.headers["Hub-Receipt-Checkpoint"]
        if item["receipt_checkpoint"] == "witnessed":
            # (A signed one differs: each read of the log is audited, and signed anew.)
            assert item["receipt"] == response.get_data(as_text=True)
        kinds[item["index"] < hub["witnessed_size"]] = item["receipt_checkpoint"]
    assert kinds == {True: "witnessed", False: "signed"}


def test_without_a_witnessed_checkpoint_receipts_are_against_the_newest_signed_one(
    client, reader, system
):
    for i in range(3):
        audit.record(system, "test.receipt.unwitnessed", "granted", resource_ids=[str(i)])
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    client.sign_in(reader)
    response = client.get("/api/v1/audit/entries/1/receipt")
    assert response.status_code == 200
    assert response.headers["Hub-Receipt-Checkpoint"] == "signed"
    receipt = response.get_data(as_text=True)
    newest = log.latest_checkpoint(db.session())
    assert notes.parse_tlog_proof(receipt).checkpoint_note == newest.note


# --- the script's fold, against RFC 6962's own definitions ---------------------------------


def _load_script():
    spec = importlib.util.spec_from_file_location("verify_receipt", VERIFIER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]), RFC 6962 section 2.1, by its recursive definition."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 6962 section 2.1.1, by its recursive definition."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


@given(
    st.integers(min_value=1, max_value=70).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n - 1))
    )
)
def test_the_scripts_fold_gives_the_root_for_every_index_and_size(size_and_index):
    size, index = size_and_index
    leaves = [f"entry {i}".encode() for i in range(size)]
    proof = _path(index, leaves)
    leaf_hash = hashlib.sha256(b"\x00" + leaves[index]).digest()
    assert SCRIPT.root_from_inclusion_proof(index, size, leaf_hash, proof) == _mth(leaves)
    # Another leaf, or the proof of another size, does not lead to the root.
    other = hashlib.sha256(b"\x00" + b"not logged").digest()
    assert SCRIPT.root_from_inclusion_proof(index, size, other, proof) != _mth(leaves)
    # A hash too many, or one too few, is refused outright.
    with pytest.raises(SCRIPT.Failed, match="too long"):
        SCRIPT.root_from_inclusion_proof(index, size, leaf_hash, [*proof, leaf_hash])
    if proof:
        with pytest.raises(SCRIPT.Failed, match="too short"):
            SCRIPT.root_from_inclusion_proof(index, size, leaf_hash, proof[:-1])
