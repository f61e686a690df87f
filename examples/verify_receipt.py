#!/usr/bin/env python3
"""Check a hub audit receipt (or a cosigned checkpoint) offline, without the hub's code.

A receipt is a C2SP tlog-proof (c2sp.org/tlog-proof): an entry's index, its RFC 9162 inclusion
proof, and a checkpoint signed by the log and cosigned by witnesses (c2sp.org/tlog-checkpoint,
c2sp.org/signed-note, c2sp.org/tlog-cosignature). This script needs Python 3.10+ and the
`cryptography` package, nothing else; docs/verifying.md explains each step.

    python verify_receipt.py entry-42.tlog-proof --leaf "$(cat entry-42.leaf.b64)" \\
        --log-key 'hub.example/audit+1a2b3c4d+AQ...' \\
        --witness 'witness.ravensmoor.example+5e6f7a8b+BA...' --quorum 1

or, with the keys and quorum from a saved copy of GET /api/v1/audit/witness-policy:

    python verify_receipt.py entry-42.tlog-proof --leaf ... --policy witness-policy.json

Given a checkpoint note instead of a receipt, it checks the signatures alone. It prints what
was proven and exits 0, or prints FAILED and the reason and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space start every signature line
ED25519 = 0x01  # the log's own signatures
COSIGNATURE_V1 = 0x04  # witnesses' timestamped cosignatures


class Failed(Exception):
    """The receipt does not prove what it claims."""


def b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not base64") from None


@dataclass(frozen=True)
class Key:
    """A verifier key, `<name>+<8 hex key id>+<base64(type byte || 32-byte Ed25519 key)>`."""

    name: str
    key_id: bytes
    kind: int
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Key:
        try:
            name, key_id_hex, material = vkey.strip().split("+", 2)  # base64 may hold "+" too
            key_id = bytes.fromhex(key_id_hex)
        except ValueError:
            raise Failed(f"not a verifier key: {vkey[:60]!r}") from None
        raw = b64(material, "verifier key")
        if len(raw) != 33 or len(key_id) != 4:
            raise Failed(f"verifier key {name!r} is not a 32-byte Ed25519 key with a 4-byte id")
        # The key id is the first 4 bytes of SHA-256(name || "\n" || type || key).
        if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != key_id:
            raise Failed(f"verifier key {name!r}: its key id does not match the key")
        return cls(name, key_id, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            raise Failed(f"the signature by {self.name!r} does not verify") from None


def split_receipt(text: str) -> tuple[int | None, list[bytes], str]:
    """(index, proof hashes, checkpoint note) of a tlog-proof; (None, [], text) for a bare note."""
    if not text.startswith(PROOF_HEADER + "\n"):
        return None, [], text
    head, sep, note = text.partition(
        "\n\n"
    )  # proof lines are never empty: the first blank ends them
    if not sep:
        raise Failed("the receipt has no blank line before its checkpoint")
    lines = head.split("\n")[1:]
    if lines and lines[0].startswith("extra "):
        lines = lines[1:]  # application data, not authenticated: not used here
    if not lines or not lines[0].startswith("index "):
        raise Failed("the receipt has no index line")
    index = int(lines[0].removeprefix("index "))
    hashes = [b64(line, "a proof hash") for line in lines[1:]]
    if any(len(h) != 32 for h in hashes):
        raise Failed("a proof hash is not 32 bytes")
    return index, hashes, note


def check_signatures(note: str, log_key: Key, witnesses: list[Key], quorum: int) -> tuple:
    """Verify the log's signature and count valid witness cosignatures; return the checkpoint
    (origin, size, root) and the names of the witnesses that cosigned it."""
    cut = note.rfind("\n\n")  # the last blank line separates the text from the signatures
    if cut < 0 or not note.endswith("\n"):
        raise Failed("the checkpoint is not a signed note")
    text, signature_lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    known = {(k.name, k.key_id): k for k in [log_key, *witnesses]}
    signed_by_log = False
    cosigned: set[str] = set()
    for line in signature_lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise Failed(f"malformed signature line {line[:40]!r}")
        name, _, blob_b64 = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        blob = b64(blob_b64, "a signature")
        key = known.get((name, blob[:4]))
        if key is None:
            continue  # a signature by a key we do not trust proves nothing; skip it
        if key.kind == ED25519:
            # The log signs the checkpoint text itself (up to and including its last newline).
            key.verify(blob[4:], text.encode())
            signed_by_log = signed_by_log or (key.name, key.key_id) == (
                log_key.name,
                log_key.key_id,
            )
        elif key.kind == COSIGNATURE_V1:
            # A witness signs "cosignature/v1\ntime <timestamp>\n" followed by the same text;
            # the timestamp is the 8 bytes (big-endian) after the key id.
            timestamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
            key.verify(blob[12:], message)
            cosigned.add(key.name)
    if not signed_by_log:
        raise Failed(f"the checkpoint is not signed by the log key {log_key.name!r}")
    if len(cosigned) < quorum:
        raise Failed(
            f"the checkpoint has {len(cosigned)} valid cosignatures, the policy needs {quorum}"
        )
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise Failed("the checkpoint needs an origin, a size and a root hash")
    origin, size, root = lines[0], int(lines[1]), b64(lines[2], "the root hash")
    if origin != log_key.name:
        raise Failed(f"the checkpoint is for the log {origin!r}, not {log_key.name!r}")
    return (origin, size, root), sorted(cosigned)


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: list[bytes]) -> bytes:
    """Fold the proof from the leaf up (RFC 9162, section 2.1.3.2)."""
    if index >= size:
        raise Failed(f"entry {index} is not in a tree of {size} entries")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise Failed("the inclusion proof is too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)  # the sibling is on the left
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)  # the sibling is on the right
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Failed("the inclusion proof is too short")
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="a receipt (.tlog-proof) or a checkpoint note")
    parser.add_argument("--policy", type=Path, help="a saved GET /api/v1/audit/witness-policy")
    parser.add_argument("--log-key", help="the log's verifier key (GET /api/v1/audit/verifier-key)")
    parser.add_argument("--witness", action="append", default=[], help="a witness verifier key")
    parser.add_argument("--quorum", type=int, help="cosignatures needed (default: all witnesses)")
    leaf = parser.add_mutually_exclusive_group()
    leaf.add_argument("--leaf", help="the entry's exact leaf bytes, base64 (as the hub gives them)")
    leaf.add_argument("--leaf-hash", help="SHA-256(0x00 || leaf), base64")
    args = parser.parse_args(argv)
    try:
        log_key_text, witness_texts, quorum = args.log_key, list(args.witness), args.quorum
        if args.policy:
            policy = json.loads(args.policy.read_text())
            log_key_text = log_key_text or policy["log_verifier_key"]
            witness_texts += [w["verifier_key"] for w in policy["witnesses"]]
            quorum = policy["quorum"] if quorum is None else quorum
        if not log_key_text:
            raise Failed("give the log's key (--log-key or --policy)")
        log_key = Key.parse(log_key_text)
        witnesses = [Key.parse(text) for text in witness_texts]
        if log_key.kind != ED25519 or any(w.kind != COSIGNATURE_V1 for w in witnesses):
            raise Failed("the log key must be of type 0x01 and witness keys of type 0x04")
        quorum = len({w.name for w in witnesses}) if quorum is None else quorum
        if quorum > len({w.name for w in witnesses}):
            raise Failed(f"a quorum of {quorum} needs at least {quorum} witness keys")
        index, proof, note = split_receipt(args.file.read_text(encoding="utf-8"))
        (origin, size, root), cosigners = check_signatures(note, log_key, witnesses, quorum)
        by = f"cosigned by {', '.join(cosigners)}" if cosigners else "cosigned by no witness"
        if index is None:
            print(f"OK: checkpoint of {origin} at size {size}, signed by the log, {by}")
            return 0
        if args.leaf is not None:
            leaf_hash = hashlib.sha256(b"\x00" + b64(args.leaf, "the leaf")).digest()
        elif args.leaf_hash is not None:
            leaf_hash = b64(args.leaf_hash, "the leaf hash")
        else:
            raise Failed("give the entry's leaf (--leaf) or its hash (--leaf-hash)")
        if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
            raise Failed("the inclusion proof does not lead to the checkpoint's root hash")
        print(f"OK: entry {index} is in {origin} at size {size}, signed by the log, {by}")
        return 0
    except (Failed, OSError, ValueError, KeyError) as exc:
        print(f"FAILED: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
