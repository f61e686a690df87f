"""C2SP signed notes, tlog checkpoints, Ed25519 cosignatures and tlog-proof files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import merkle

# Signature type bytes from c2sp.org/signed-note; they feed the key ID and the key encodings.
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04  # timestamped Ed25519 witness cosignature (tlog-cosignature)

SIGNATURE_PREFIX = "\u2014 "  # em dash, space
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
COSIGNATURE_V1_HEADER = "cosignature/v1"

# The spec requires accepting at least 16; the Go reference implementation stops at 100.
MAX_SIGNATURES = 100
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1
# A tree of at most 2**64 leaves has at most 64 hashes in an inclusion proof.
MAX_PROOF_HASHES = 64

_KEY_TYPES = (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1)
_ED25519_SIG_SIZE = 64
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_HEX8 = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_CONTROL_CHARS = tuple(chr(i) for i in range(32) if i != 0x0A)


class NoteError(ValueError):
    """A note, key, checkpoint, cosignature or proof is malformed or does not verify."""


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: the (name, key ID) pair that signature lines are matched on."""

    name: str
    key_id: bytes
    public_key: bytes
    sig_type: int = SIG_TYPE_ED25519
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the name and key ID and load the Ed25519 key once."""
        _check_name(self.name)
        if self.sig_type not in _KEY_TYPES:
            raise NoteError(f"unsupported signature type 0x{self.sig_type:02x}")
        if len(self.public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")
        if self.key_id != key_id(self.name, self.sig_type, self.public_key):
            raise NoteError(f"key ID {self.key_id.hex()} does not match key {self.name!r}")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise NoteError(f"invalid Ed25519 public key for {self.name!r}") from None
        object.__setattr__(self, "_key", key)

    @property
    def vkey(self) -> str:
        """Return the verifier key string <name>+<hex key ID>+<base64(type || public key)>."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def __str__(self) -> str:
        """Return the verifier key string."""
        return self.vkey


@dataclass(frozen=True)
class Signer:
    """A private signing key with its name and key ID; never shown in repr."""

    name: str
    key_id: bytes
    sig_type: int
    _key: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def public_key(self) -> bytes:
        """Return the raw 32-byte Ed25519 public key."""
        return self._key.public_key().public_bytes_raw()

    @property
    def verifier(self) -> Verifier:
        """Return the matching verifier."""
        return Verifier(self.name, self.key_id, self.public_key, self.sig_type)

    def sign(self, message: bytes) -> bytes:
        """Return a raw Ed25519 signature over message."""
        return self._key.sign(message)


@dataclass(frozen=True)
class NoteSignature:
    """A verified signature line; timestamp is set for cosignatures, None otherwise."""

    name: str
    key_id: bytes
    sig_type: int
    timestamp: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    """The body of a tlog checkpoint: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """Return the checkpoint note text."""
        return format_checkpoint(self.origin, self.size, self.root, self.extensions)


@dataclass(frozen=True)
class TlogProof:
    """A parsed c2sp.org/tlog-proof: entry index, inclusion proof, signed checkpoint, extra."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None


# --- keys -------------------------------------------------------------------------------------


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Return the 4-byte key ID SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def make_signer_key(name: str, sig_type: int = SIG_TYPE_ED25519) -> str:
    """Generate a new Ed25519 signer key string PRIVATE+KEY+<name>+<hex id>+<base64>."""
    _check_name(name)
    if sig_type not in _KEY_TYPES:
        raise NoteError(f"unsupported signature type 0x{sig_type:02x}")
    private = Ed25519PrivateKey.generate()
    return _format_signer_key(name, sig_type, private)


def make_cosigner_key(name: str) -> str:
    """Generate a new witness signer key, for tlog-cosignature/v1 (signature type 0x04)."""
    return make_signer_key(name, SIG_TYPE_COSIGNATURE_V1)


def _format_signer_key(name: str, sig_type: int, private: Ed25519PrivateKey) -> str:
    """Encode a private key in the signer key string format."""
    public = private.public_key().public_bytes_raw()
    material = base64.b64encode(bytes([sig_type]) + private.private_bytes_raw()).decode()
    return f"{_PRIVATE_PREFIX}{name}+{key_id(name, sig_type, public).hex()}+{material}"


def parse_signer_key(skey: str) -> Signer:
    """Parse PRIVATE+KEY+<name>+<hex id>+<base64(type || seed)>, checking the key ID."""
    if not skey.startswith(_PRIVATE_PREFIX):
        raise NoteError("signer key must start with PRIVATE+KEY+")
    name, kid, (sig_type, seed) = _split_key(skey[len(_PRIVATE_PREFIX) :], "signer")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    if kid != key_id(name, sig_type, private.public_key().public_bytes_raw()):
        raise NoteError(f"signer key for {name!r} has a key ID that does not match the key")
    return Signer(name, kid, sig_type, private)


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse <name>+<hex id>+<base64(type || public key)>, checking the key ID."""
    name, kid, (sig_type, public) = _split_key(vkey, "verifier")
    return Verifier(name, kid, public, sig_type)


def verifier_key_from_signer(signer: Signer | str) -> str:
    """Return the verifier key string matching a signer (key string or parsed)."""
    return _as_signer(signer).verifier.vkey


def _split_key(text: str, what: str) -> tuple[str, bytes, tuple[int, bytes]]:
    """Split <name>+<hex id>+<base64(type || key)> into name, key ID, (type, key bytes)."""
    # The name cannot hold '+', but the base64 part can, so split at most twice.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"malformed {what} key: want <name>+<hex key ID>+<base64 key>")
    name, hex_id, b64 = parts
    _check_name(name)
    if not _HEX8.fullmatch(hex_id):
        raise NoteError(f"malformed {what} key: key ID must be 8 hex digits")
    material = _b64decode(b64, f"{what} key")
    if len(material) != 33 or material[0] not in _KEY_TYPES:
        raise NoteError(f"{what} key is not an Ed25519 (0x01) or cosignature/v1 (0x04) key")
    return name, bytes.fromhex(hex_id), (material[0], material[1:])


def _as_signer(signer: Signer | str) -> Signer:
    """Accept a parsed signer or a signer key string."""
    return parse_signer_key(signer) if isinstance(signer, str) else signer


def _as_verifier(verifier: Verifier | str) -> Verifier:
    """Accept a parsed verifier or a verifier key string."""
    return parse_verifier_key(verifier) if isinstance(verifier, str) else verifier


# --- signed notes -----------------------------------------------------------------------------


def sign_note(text: str, *signers: Signer | str) -> str:
    """Return text signed by each Ed25519 signer, as a C2SP signed note."""
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    _check_text(text)
    message = text.encode()
    lines = []
    for s in map(_as_signer, signers):
        if s.sig_type != SIG_TYPE_ED25519:
            # A cosignature signs a different message; see cosign_checkpoint.
            raise NoteError(f"key {s.name!r} is a cosigner key; use cosign_checkpoint")
        lines.append(_signature_line(s.name, s.key_id + s.sign(message)))
    return text + "\n" + "".join(lines)


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a note into its text and (name, key ID, signature) per line, without verifying."""
    _check_utf8(note, "note")
    # The text may itself contain blank lines; only the last one separates the signatures.
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    if not sig_block.endswith("\n"):
        raise NoteError("malformed note: signature block must end in a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [parse_signature_line(line) for line in lines]


def parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """Parse '— <name> <base64>' (trailing newline optional) into name, key ID, signature."""
    line = line.removesuffix("\n")
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"malformed signature line {line[:60]!r}")
    parts = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise NoteError(f"malformed signature line {line[:60]!r}")
    name, b64 = parts
    _check_name(name)
    blob = _b64decode(b64, "signature")
    if len(blob) < 5:
        raise NoteError(f"signature by {name!r} is too short")
    return name, blob[:4], blob[4:]


def open_note(note: str, verifiers: Iterable[Verifier | str]) -> tuple[str, list[NoteSignature]]:
    """Verify a signed note; return its text and the verified signatures by known keys."""
    # The spec's rules: signatures by unknown (name, key ID) pairs are ignored; one by a known
    # key that fails rejects the whole note; so does a note with no known signature at all.
    # Cosigner (type 0x04) verifiers check timestamped cosignatures over the text.
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in map(_as_verifier, verifiers):
        other = known.setdefault((v.name, v.key_id), v)
        if other.public_key != v.public_key or other.sig_type != v.sig_type:
            raise NoteError(f"two different verifiers share name {v.name!r} and key ID")
    text, sigs = split_note(note)
    _check_text(text)
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    for name, kid, sig in sigs:
        v = known.get((name, kid))
        if v is None:
            continue
        if v.sig_type == SIG_TYPE_COSIGNATURE_V1:
            timestamp: int | None = _verify_cosignature(v, text, sig)
        else:
            _verify_ed25519(v, text.encode(), sig)
            timestamp = None
        # A repeated signature by the same key still had to verify; only the first is kept.
        verified.setdefault((name, kid), NoteSignature(name, kid, v.sig_type, timestamp))
    if not verified:
        raise NoteError("note has no signature by a known key")
    return text, list(verified.values())


def _verify_ed25519(v: Verifier, message: bytes, sig: bytes) -> None:
    """Verify a raw Ed25519 signature by a known key, raising NoteError on failure."""
    if len(sig) != _ED25519_SIG_SIZE:
        raise NoteError(f"signature by known key {v.name!r} is {len(sig)} bytes, want 64")
    try:
        v._key.verify(sig, message)
    except InvalidSignature:
        raise NoteError(f"signature by known key {v.name!r} does not verify") from None


def _verify_cosignature(v: Verifier, checkpoint_text: str, sig: bytes) -> int:
    """Verify a timestamped cosignature/v1 signature by a known key; return its timestamp."""
    if len(sig) != 8 + _ED25519_SIG_SIZE:
        raise NoteError(f"cosignature by {v.name!r} is {len(sig)} bytes, want 72")
    timestamp = int.from_bytes(sig[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(f"cosignature by {v.name!r} has a timestamp beyond 2^63 - 1")
    _verify_ed25519(v, _cosignature_message(checkpoint_text, timestamp), sig[8:])
    return timestamp


def _signature_line(name: str, blob: bytes) -> str:
    """Format one signature line, newline included."""
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


# --- checkpoints ------------------------------------------------------------------------------


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """Return checkpoint text: origin, decimal size, base64 root, then any extension lines."""
    if not origin:
        raise NoteError("checkpoint origin must not be empty")
    if not 0 <= size <= MAX_TREE_SIZE:
        raise NoteError(f"checkpoint tree size {size} is out of range")
    if len(root) != merkle.HASH_SIZE:
        raise NoteError(f"checkpoint root must be {merkle.HASH_SIZE} bytes, got {len(root)}")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    body = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    for line in body:
        if "\n" in line:
            raise NoteError(f"checkpoint line {line[:60]!r} contains a newline")
    text = "\n".join(body) + "\n"
    _check_text(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse and strictly validate checkpoint note text (not a signed note)."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"checkpoint size {size_text[:30]!r} is not a canonical decimal")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise NoteError(f"checkpoint size {size_text} is out of range")
    root = _b64decode(root_text, "checkpoint root")
    if len(root) != merkle.HASH_SIZE:
        raise NoteError(f"checkpoint root must be {merkle.HASH_SIZE} bytes, got {len(root)}")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def open_checkpoint(
    note: str,
    log_verifier: Verifier | str,
    *,
    origin: str | None = None,
    witnesses: Iterable[Verifier | str] = (),
    quorum: int = 0,
) -> tuple[Checkpoint, list[NoteSignature]]:
    """Verify a checkpoint signed by the log and cosigned by at least quorum witnesses."""
    log = _as_verifier(log_verifier)
    witness_list = [_as_verifier(w) for w in witnesses]
    # Count each witness once, and never the log as its own witness.
    witness_ids = {(w.name, w.key_id) for w in witness_list} - {(log.name, log.key_id)}
    if quorum > len(witness_ids):
        raise NoteError(f"quorum {quorum} exceeds the {len(witness_ids)} witnesses given")
    text, sigs = open_note(note, [log, *witness_list])
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    # open_note accepts any one known signature; a checkpoint needs the log's own.
    signed_by = {(s.name, s.key_id) for s in sigs}
    if (log.name, log.key_id) not in signed_by:
        raise NoteError(f"checkpoint is not signed by the log key {log.name!r}")
    cosigned = len(witness_ids & signed_by)
    if cosigned < quorum:
        raise NoteError(f"checkpoint has {cosigned} witness cosignatures, need {quorum}")
    return checkpoint, sigs


# --- cosignatures -----------------------------------------------------------------------------


def _cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """Return the tlog-cosignature/v1 Ed25519 signed message."""
    return f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign_checkpoint(checkpoint_text: str, witness_signer: Signer | str, timestamp: int) -> str:
    """Return a cosignature/v1 signature line (with newline) over checkpoint note text."""
    signer = _as_signer(witness_signer)
    if signer.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise NoteError(f"key {signer.name!r} is not a cosignature/v1 (0x04) key")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is out of range")
    parse_checkpoint(checkpoint_text)
    sig = signer.sign(_cosignature_message(checkpoint_text, timestamp))
    return _signature_line(signer.name, signer.key_id + timestamp.to_bytes(8, "big") + sig)


def verify_cosignature(checkpoint_text: str, line: str, witness_verifier: Verifier | str) -> int:
    """Verify a cosignature/v1 line over checkpoint note text; return its timestamp."""
    v = _as_verifier(witness_verifier)
    if v.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise NoteError(f"verifier {v.name!r} is not a cosignature/v1 (0x04) key")
    parse_checkpoint(checkpoint_text)
    name, kid, sig = parse_signature_line(line)
    if (name, kid) != (v.name, v.key_id):
        raise NoteError(f"cosignature is by {name!r}/{kid.hex()}, not {v.name!r}/{v.key_id.hex()}")
    return _verify_cosignature(v, checkpoint_text, sig)


# --- tlog-proof -------------------------------------------------------------------------------


def format_tlog_proof(
    index: int, proof_hashes: Sequence[bytes], signed_checkpoint: str, extra: bytes | None = None
) -> str:
    """Return a c2sp.org/tlog-proof@v1 file for the entry at index."""
    if not 0 <= index < MAX_TREE_SIZE:
        raise NoteError(f"entry index {index} is out of range")
    if len(proof_hashes) > MAX_PROOF_HASHES:
        raise NoteError(f"inclusion proof has more than {MAX_PROOF_HASHES} hashes")
    if any(len(h) != merkle.HASH_SIZE for h in proof_hashes):
        raise NoteError(f"inclusion proof hashes must be {merkle.HASH_SIZE} bytes")
    # Catch a bare checkpoint body or a truncated note before it is published.
    split_note(signed_checkpoint)
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode() for h in proof_hashes)
    return "\n".join(lines) + "\n\n" + signed_checkpoint


def parse_tlog_proof(text: str) -> TlogProof:
    """Parse a c2sp.org/tlog-proof@v1 file; the checkpoint note is returned unverified."""
    _check_utf8(text, "tlog-proof")
    # Proof lines are never empty, so the first blank line ends them.
    cut = text.find("\n\n")
    if cut < 0:
        raise NoteError("tlog-proof has no blank line before the checkpoint")
    head, checkpoint_note = text[:cut].split("\n"), text[cut + 2 :]
    if head[0] != TLOG_PROOF_HEADER:
        raise NoteError(f"tlog-proof must start with {TLOG_PROOF_HEADER!r}")
    pos = 1
    extra = None
    if pos < len(head) and head[pos].startswith("extra "):
        extra = _b64decode(head[pos][len("extra ") :], "tlog-proof extra data", allow_empty=True)
        pos += 1
    if pos >= len(head) or not head[pos].startswith("index "):
        raise NoteError("tlog-proof is missing its index line")
    index_text = head[pos][len("index ") :]
    if not _DECIMAL.fullmatch(index_text) or int(index_text) >= MAX_TREE_SIZE:
        raise NoteError(f"tlog-proof index {index_text[:30]!r} is not a canonical decimal")
    hash_lines = head[pos + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise NoteError(f"tlog-proof has more than {MAX_PROOF_HASHES} proof hashes")
    proof = tuple(_b64decode(line, "tlog-proof hash") for line in hash_lines)
    if any(len(h) != merkle.HASH_SIZE for h in proof):
        raise NoteError(f"tlog-proof hashes must be {merkle.HASH_SIZE} bytes")
    split_note(checkpoint_note)
    return TlogProof(int(index_text), proof, checkpoint_note, extra)


def verify_tlog_proof(
    text: str,
    leaf_hash: bytes,
    log_verifier: Verifier | str,
    *,
    origin: str | None = None,
    witnesses: Iterable[Verifier | str] = (),
    quorum: int = 0,
) -> tuple[TlogProof, Checkpoint, list[NoteSignature]]:
    """Verify a tlog-proof for leaf_hash: the checkpoint as open_checkpoint, then inclusion."""
    proof = parse_tlog_proof(text)
    checkpoint, sigs = open_checkpoint(
        proof.checkpoint_note, log_verifier, origin=origin, witnesses=witnesses, quorum=quorum
    )
    try:
        merkle.verify_inclusion(
            proof.index, checkpoint.size, leaf_hash, proof.proof, checkpoint.root
        )
    except merkle.ProofError as e:
        raise NoteError(f"tlog-proof inclusion proof: {e}") from None
    return proof, checkpoint, sigs


# --- validation helpers -----------------------------------------------------------------------


def _check_name(name: str) -> None:
    """Raise NoteError unless name is a valid key name: non-empty, no spaces, no '+'."""
    if not name or "+" in name or any(c.isspace() or c < " " for c in name):
        raise NoteError(f"invalid key name {name[:60]!r}")
    _check_utf8(name, "key name")


def _check_utf8(text: str, what: str) -> None:
    """Raise NoteError if text cannot be UTF-8 (lone surrogates) or has control characters."""
    if not isinstance(text, str):
        raise NoteError(f"{what} must be str, got {type(text).__name__}")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    # Only newline is allowed below U+0020; 31 substring searches run in C, unlike a
    # per-character loop in Python over a long note.
    for c in _CONTROL_CHARS:
        if c in text:
            raise NoteError(f"{what} contains control character {c!r}")


def _check_text(text: str) -> None:
    """Raise NoteError unless text is a valid note text: non-empty, newline-terminated."""
    _check_utf8(text, "note text")
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")


def _b64decode(data: str, what: str, *, allow_empty: bool = False) -> bytes:
    """Decode canonical standard base64, raising NoteError otherwise."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    # Reject non-canonical padding bits so that each value has exactly one encoding.
    if base64.b64encode(raw).decode() != data or (not raw and not allow_empty):
        raise NoteError(f"{what} is not canonical base64")
    return raw
