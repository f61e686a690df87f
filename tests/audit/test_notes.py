"""Tests for C2SP signed notes, checkpoints, cosignatures and tlog-proof files."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.merkle import CompactRange, inclusion_proof, leaf_hash
from audit.notes import (
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    NoteError,
    cosign_checkpoint,
    format_checkpoint,
    format_tlog_proof,
    key_id,
    make_cosigner_key,
    make_signer_key,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    parse_signer_key,
    parse_tlog_proof,
    parse_verifier_key,
    sign_note,
    split_note,
    verifier_key_from_signer,
    verify_cosignature,
    verify_tlog_proof,
)

# The example key pair and note of the Go reference implementation (golang.org/x/mod/sumdb/note),
# which the C2SP signed-note spec was written from. Ed25519 is deterministic, so signing the same
# text must reproduce the published note byte for byte.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG

# The examples in c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)

ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture(scope="module")
def log_key():
    return make_signer_key("log.example/audit")


@pytest.fixture(scope="module")
def witness_keys():
    return [make_cosigner_key(f"witness{i}.example") for i in range(3)]


# --- keys ---------------------------------------------------------------------------------------


def test_go_reference_keys_parse_and_match():
    v = parse_verifier_key(GO_VKEY)
    assert v.name == "PeterNeumann"
    assert v.key_id.hex() == "c74f20a3"
    assert v.sig_type == SIG_TYPE_ED25519
    assert len(v.public_key) == 32
    # The key ID is SHA-256(name || "\n" || 0x01 || public key)[:4], recomputed independently.
    assert hashlib.sha256(b"PeterNeumann\n\x01" + v.public_key).digest()[:4] == v.key_id
    assert v.vkey == GO_VKEY
    assert verifier_key_from_signer(GO_SKEY) == GO_VKEY
    assert parse_signer_key(GO_SKEY).verifier == v


def test_signer_repr_does_not_show_the_private_key():
    signer = parse_signer_key(GO_SKEY)
    assert "AYEKFALV" not in repr(signer)
    assert "_key" not in repr(signer)


def test_generated_keys_round_trip():
    skey = make_signer_key("example.com/log42")
    vkey = verifier_key_from_signer(skey)
    assert skey.startswith("PRIVATE+KEY+example.com/log42+")
    assert vkey.startswith("example.com/log42+")
    assert parse_verifier_key(vkey) == parse_signer_key(skey).verifier
    assert make_signer_key("example.com/log42") != skey


def test_every_mangling_of_a_verifier_key_is_rejected():
    # Every proper substring and every single-character change must fail to parse, because
    # the key ID binds the name, type and key material together.
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) == (0, len(GO_VKEY)):
                continue
            with pytest.raises(NoteError):
                parse_verifier_key(GO_VKEY[i:j])
    for i in range(len(GO_VKEY)):
        mangled = GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
        "PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # short ID
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
        "PeterNeumann+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # missing ID
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey):
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        GO_VKEY,  # a verifier key is not a signer key
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumanx+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
    ],
)
def test_malformed_signer_keys_are_rejected(skey):
    with pytest.raises(NoteError):
        parse_signer_key(skey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb"])
def test_invalid_key_names_are_rejected(name):
    with pytest.raises(NoteError, match="invalid key name"):
        make_signer_key(name)


# --- signed notes -------------------------------------------------------------------------------


def test_sign_note_reproduces_the_go_reference_note():
    assert sign_note(GO_TEXT, GO_SKEY) == GO_NOTE


def test_open_note_verifies_the_go_reference_note():
    text, sigs = open_note(GO_NOTE, [GO_VKEY])
    assert text == GO_TEXT
    assert [(s.name, s.key_id.hex(), s.timestamp) for s in sigs] == [
        ("PeterNeumann", "c74f20a3", None)
    ]


def test_round_trip_with_several_signers_and_blank_lines_in_the_text(log_key):
    other = make_signer_key("other.example")
    text = "first\n\nthird line after a blank one\n"
    note = sign_note(text, log_key, other)
    assert note.startswith(text + "\n\u2014 log.example/audit ")
    assert note.count("\n\u2014 ") == 2
    opened, sigs = open_note(note, [verifier_key_from_signer(log_key)])
    assert opened == text
    assert [s.name for s in sigs] == ["log.example/audit"]
    _, sigs = open_note(note, [verifier_key_from_signer(k) for k in (log_key, other)])
    assert {s.name for s in sigs} == {"log.example/audit", "other.example"}


def test_tampered_text_is_rejected():
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [GO_VKEY])


def test_signature_by_an_unknown_key_alone_is_rejected(log_key):
    note = sign_note("hello\n", make_signer_key("stranger.example"))
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(note, [verifier_key_from_signer(log_key)])


def test_unknown_signatures_are_ignored_beside_a_known_one(log_key):
    note = sign_note("hello\n", make_signer_key("stranger.example"), log_key)
    text, sigs = open_note(note, [verifier_key_from_signer(log_key)])
    assert text == "hello\n"
    assert [s.name for s in sigs] == ["log.example/audit"]


def test_same_name_with_a_different_key_id_is_an_unknown_key():
    # Matching the name but not the key ID is "unknown", not "bad": it is ignored, so the note
    # has no known signature at all.
    name, kid, sig = parse_signature_line(GO_SIG)
    other_id = bytes([kid[0] ^ 0xFF]) + kid[1:]
    line = f"\u2014 {name} {base64.b64encode(other_id + sig).decode()}\n"
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(GO_TEXT + "\n" + line, [GO_VKEY])
    # Next to the genuine signature it is simply ignored.
    text, sigs = open_note(GO_TEXT + "\n" + line + GO_SIG, [GO_VKEY])
    assert text == GO_TEXT
    assert len(sigs) == 1


def test_a_bad_signature_by_a_known_key_rejects_the_note_even_beside_a_good_one(log_key):
    good = sign_note(GO_TEXT, log_key)
    name, kid, _ = parse_signature_line(GO_SIG)
    forged = f"\u2014 {name} {base64.b64encode(kid + bytes(64)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(good + forged, [verifier_key_from_signer(log_key), GO_VKEY])


def test_repeated_signature_is_reported_once():
    text, sigs = open_note(GO_NOTE + GO_SIG, [GO_VKEY])
    assert text == GO_TEXT
    assert len(sigs) == 1


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(GO_TEXT + GO_SIG, id="no-blank-line"),
        pytest.param(GO_TEXT + "\n", id="no-signatures"),
        pytest.param(GO_NOTE[:-1], id="no-final-newline"),
        pytest.param(GO_TEXT + "\n" + GO_SIG.replace("\u2014", "--"), id="ascii-dash"),
        pytest.param(GO_TEXT + "\n" + GO_SIG.replace("\u2014 ", "\u2014"), id="no-space"),
        pytest.param(GO_TEXT + "\n" + GO_SIG.replace(" x08", "  x08"), id="two-spaces"),
        pytest.param(GO_TEXT + "\n" + GO_SIG.replace("AM=", "AM"), id="unpadded-base64"),
        pytest.param(GO_TEXT + "\n" + GO_SIG.replace("AM=", "AN="), id="non-canonical-base64"),
        pytest.param(GO_TEXT + "\n\u2014 PeterNeumann AAAAAA==\n", id="too-short"),
        pytest.param(GO_TEXT + "\n\u2014 Peter+Neumann x08go/Zj\n", id="plus-in-name"),
        pytest.param(GO_NOTE.replace("problem,", "problem,\r"), id="carriage-return"),
        pytest.param(GO_NOTE.replace("you ", "you\t", 1), id="tab"),
        pytest.param(GO_NOTE.replace("you ", "you\x00", 1), id="nul"),
        pytest.param(GO_NOTE.replace("you ", "you\ud800", 1), id="lone-surrogate"),
        pytest.param(GO_NOTE + "\n", id="trailing-blank-line"),
        pytest.param(GO_NOTE + "garbage\n", id="garbage-line"),
    ],
)
def test_malformed_notes_are_rejected(note):
    with pytest.raises(NoteError):
        open_note(note, [GO_VKEY])


def test_too_many_signatures_are_refused_but_sixteen_are_accepted():
    # The spec requires accepting at least 16 signatures.
    text, sigs = open_note(GO_TEXT + "\n" + GO_SIG * 16, [GO_VKEY])
    assert text == GO_TEXT
    assert len(sigs) == 1
    with pytest.raises(NoteError, match="more than"):
        split_note(GO_TEXT + "\n" + GO_SIG * (MAX_SIGNATURES + 1))


@pytest.mark.parametrize("text", ["", "no newline", "tab\there\n", "bell\x07\n"])
def test_sign_note_refuses_invalid_text(text, log_key):
    with pytest.raises(NoteError):
        sign_note(text, log_key)


def test_sign_note_refuses_cosigner_keys_and_no_keys(witness_keys):
    with pytest.raises(NoteError, match="cosign_checkpoint"):
        sign_note(SPEC_CHECKPOINT, witness_keys[0])
    with pytest.raises(NoteError, match="at least one"):
        sign_note(SPEC_CHECKPOINT)


# --- checkpoints --------------------------------------------------------------------------------


def test_spec_checkpoint_parses_and_formats_back():
    cp = parse_checkpoint(SPEC_CHECKPOINT)
    assert cp == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert cp.text() == SPEC_CHECKPOINT
    assert format_checkpoint(cp.origin, cp.size, cp.root) == SPEC_CHECKPOINT


def test_checkpoint_extensions_and_empty_tree():
    text = format_checkpoint("log.example", 0, ROOT, ["ext one", "ext-two"])
    root_line = base64.b64encode(ROOT).decode()
    assert text == f"log.example\n0\n{root_line}\next one\next-two\n"
    assert parse_checkpoint(text) == Checkpoint("log.example", 0, ROOT, ("ext one", "ext-two"))


_R = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"log\n01\n{_R}\n", id="leading-zero"),
        pytest.param(f"log\n00\n{_R}\n", id="double-zero"),
        pytest.param(f"log\n-1\n{_R}\n", id="negative"),
        pytest.param(f"log\n+1\n{_R}\n", id="plus-sign"),
        pytest.param(f"log\n 1\n{_R}\n", id="space"),
        pytest.param(f"log\n1_000\n{_R}\n", id="underscore"),
        pytest.param(f"log\n\u0661\n{_R}\n", id="arabic-digit"),
        pytest.param(f"log\n{2**64}\n{_R}\n", id="too-large"),
        pytest.param(f"log\n\n{_R}\n", id="empty-size"),
        pytest.param(f"\n1\n{_R}\n", id="empty-origin"),
        pytest.param(f"log\n1\n{_R}", id="no-final-newline"),
        pytest.param("log\n1\n", id="no-root"),
        pytest.param(f"log\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", id="short-root"),
        pytest.param(f"log\n1\n{_R[:-2]}\n", id="unpadded-root"),
        pytest.param(f"log\n1\n{ROOT.hex()}\n", id="hex-root"),
        pytest.param(f"log\n1\n{_R}\n\n", id="empty-extension"),
        pytest.param(f"log\n1\n{_R}\nx\r\n", id="control-character"),
    ],
)
def test_malformed_checkpoints_are_rejected(text):
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", 1, ROOT), "origin"),
        (("log", -1, ROOT), "size"),
        (("log", 2**64, ROOT), "size"),
        (("log", 1, ROOT[:31]), "32 bytes"),
        (("log\nx", 1, ROOT), "newline"),
        (("log", 1, ROOT, [""]), "extension"),
        (("log", 1, ROOT, ["a\nb"]), "newline"),
    ],
)
def test_format_checkpoint_refuses_invalid_fields(args, match):
    with pytest.raises(NoteError, match=match):
        format_checkpoint(*args)


def test_open_checkpoint_requires_the_log_signature_and_a_quorum(log_key, witness_keys):
    body = format_checkpoint("log.example/audit", 5, ROOT)
    note = sign_note(body, log_key)
    note += cosign_checkpoint(body, witness_keys[0], 1_700_000_000)
    note += cosign_checkpoint(body, witness_keys[1], 1_700_000_001)
    log_v = verifier_key_from_signer(log_key)
    wits = [verifier_key_from_signer(w) for w in witness_keys]

    cp, sigs = open_checkpoint(note, log_v, origin="log.example/audit", witnesses=wits, quorum=2)
    assert cp.size == 5
    assert sorted(s.timestamp or 0 for s in sigs) == [0, 1_700_000_000, 1_700_000_001]
    with pytest.raises(NoteError, match="2 witness cosignatures, need 3"):
        open_checkpoint(note, log_v, witnesses=wits, quorum=3)
    with pytest.raises(NoteError, match=r"not 'log\.example/other'"):
        open_checkpoint(note, log_v, origin="log.example/other")
    # Witness cosignatures alone do not make a checkpoint the log's.
    witness_only = body + "\n" + cosign_checkpoint(body, witness_keys[0], 1)
    with pytest.raises(NoteError, match="not signed by the log"):
        open_checkpoint(witness_only, log_v, witnesses=wits)
    with pytest.raises(NoteError, match="quorum"):
        open_checkpoint(note, log_v, witnesses=wits[:1], quorum=2)
    # Listing a witness twice, or the log as a witness, does not make up a quorum.
    with pytest.raises(NoteError, match="exceeds the 1 witnesses"):
        open_checkpoint(note, log_v, witnesses=[wits[0], wits[0], log_v], quorum=2)


# --- cosignatures -------------------------------------------------------------------------------


def test_cosigner_key_ids_use_signature_type_4(witness_keys):
    v = parse_verifier_key(verifier_key_from_signer(witness_keys[0]))
    assert v.sig_type == SIG_TYPE_COSIGNATURE_V1
    want = hashlib.sha256(v.name.encode() + b"\n\x04" + v.public_key).digest()[:4]
    assert v.key_id == want
    assert v.key_id != key_id(v.name, SIG_TYPE_ED25519, v.public_key)
    # The vkey material is base64(0x04 || public key).
    assert base64.b64decode(v.vkey.split("+", 2)[2])[:1] == b"\x04"


def test_spec_cosignature_example_decodes():
    name, kid, sig = parse_signature_line(SPEC_COSIGNATURE)
    assert name == "witness.example.com/w1"
    assert len(kid) == 4
    assert len(sig) == 8 + 64
    # The timestamp matches the "time 1679315147" line of the spec's signed-message example.
    assert int.from_bytes(sig[:8], "big") == 1679315147


def test_cosignature_round_trip_and_exact_signed_message(witness_keys):
    body = format_checkpoint("log.example/audit", 42, ROOT)
    line = cosign_checkpoint(body, witness_keys[0], 1679315147)
    assert line.startswith("\u2014 witness0.example ")
    assert line.endswith("\n")
    wv = verifier_key_from_signer(witness_keys[0])
    assert verify_cosignature(body, line, wv) == 1679315147

    # Check the signed bytes independently of the module's message builder.
    _, kid, blob = parse_signature_line(line)
    assert kid == parse_verifier_key(wv).key_id
    assert blob[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(parse_verifier_key(wv).public_key).verify(blob[8:], message)


def test_cosignature_over_a_different_checkpoint_is_rejected(witness_keys):
    body = format_checkpoint("log.example/audit", 42, ROOT)
    other = format_checkpoint("log.example/audit", 43, ROOT)
    line = cosign_checkpoint(body, witness_keys[0], 1_700_000_000)
    wv = verifier_key_from_signer(witness_keys[0])
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(other, line, wv)
    # Nor is it valid in a note over the other checkpoint.
    with pytest.raises(NoteError, match="does not verify"):
        open_note(other + "\n" + line, [wv])


def test_cosignature_with_a_changed_timestamp_is_rejected(witness_keys):
    body = format_checkpoint("log.example/audit", 42, ROOT)
    name, kid, blob = parse_signature_line(cosign_checkpoint(body, witness_keys[0], 100))
    moved = kid + (101).to_bytes(8, "big") + blob[8:]
    line = f"\u2014 {name} {base64.b64encode(moved).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(body, line, verifier_key_from_signer(witness_keys[0]))


def test_cosignature_by_another_witness_is_rejected(witness_keys):
    body = format_checkpoint("log.example/audit", 42, ROOT)
    line = cosign_checkpoint(body, witness_keys[0], 1)
    with pytest.raises(NoteError, match=r"not 'witness1\.example'"):
        verify_cosignature(body, line, verifier_key_from_signer(witness_keys[1]))


def test_cosignature_keys_and_inputs_are_checked(log_key, witness_keys):
    body = format_checkpoint("log.example/audit", 42, ROOT)
    with pytest.raises(NoteError, match="not a cosignature/v1"):
        cosign_checkpoint(body, log_key, 1)
    with pytest.raises(NoteError, match="not a cosignature/v1"):
        verify_cosignature(body, GO_SIG, GO_VKEY)
    for ts in (-1, 2**63):
        with pytest.raises(NoteError, match="out of range"):
            cosign_checkpoint(body, witness_keys[0], ts)
    with pytest.raises(NoteError):
        cosign_checkpoint("not a checkpoint\n", witness_keys[0], 1)


# --- tlog-proof ---------------------------------------------------------------------------------


def _small_log(log_key, n=11):
    leaves = [leaf_hash(f"entry {i}".encode()) for i in range(n)]
    store = {}
    compact = CompactRange()
    for level, index, h in compact.append_batch(leaves):
        store[level, index] = h
    body = format_checkpoint("log.example/audit", n, compact.root())
    return leaves, (lambda level, index: store[level, index]), sign_note(body, log_key)


def test_tlog_proof_layout_is_exact(log_key):
    _, get, note = _small_log(log_key)
    proof = inclusion_proof(6, 11, get)
    text = format_tlog_proof(6, proof, note, extra=b"ctx")
    hashes = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    assert text == f"c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 6\n{hashes}\n{note}"
    assert format_tlog_proof(6, proof, note).startswith("c2sp.org/tlog-proof@v1\nindex 6\n")


def test_tlog_proof_round_trip_and_verification(log_key, witness_keys):
    leaves, get, note = _small_log(log_key)
    body, _ = split_note(note)
    note += cosign_checkpoint(body, witness_keys[2], 1_700_000_000)
    log_v = verifier_key_from_signer(log_key)
    wits = [verifier_key_from_signer(w) for w in witness_keys]
    for index in (0, 6, 10):
        text = format_tlog_proof(index, inclusion_proof(index, 11, get), note)
        parsed = parse_tlog_proof(text)
        assert parsed.index == index
        assert parsed.extra is None
        assert parsed.checkpoint_note == note
        proof, cp, sigs = verify_tlog_proof(
            text, leaves[index], log_v, origin="log.example/audit", witnesses=wits, quorum=1
        )
        assert proof == parsed
        assert cp.size == 11
        assert len(sigs) == 2
        with pytest.raises(NoteError, match="inclusion proof"):
            verify_tlog_proof(text, leaves[index - 1], log_v)
    extra = parse_tlog_proof(format_tlog_proof(3, inclusion_proof(3, 11, get), note, b"\x00\xff"))
    assert extra.extra == b"\x00\xff"


def test_tlog_proof_from_an_untrusted_log_is_rejected(log_key):
    leaves, get, note = _small_log(log_key)
    text = format_tlog_proof(2, inclusion_proof(2, 11, get), note)
    with pytest.raises(NoteError, match="no signature by a known key"):
        verify_tlog_proof(text, leaves[2], verifier_key_from_signer(make_signer_key("x.example")))


_H = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(f"c2sp.org/tlog-proof@v2\nindex 1\n{_H}\n", id="wrong-header"),
        pytest.param(f"index 1\n{_H}\n", id="no-header"),
        pytest.param(f"c2sp.org/tlog-proof@v1\n{_H}\n", id="no-index"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex 01\n{_H}\n", id="leading-zero"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex -1\n{_H}\n", id="negative-index"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex  1\n{_H}\n", id="two-spaces"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex 1\nextra AA==\n{_H}\n", id="extra-after"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nextra A\nindex 1\n{_H}\n", id="bad-extra"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex 1\n{_H[:-4]}\n", id="short-hash"),
        pytest.param(f"c2sp.org/tlog-proof@v1\nindex 1\n{ROOT.hex()}\n", id="hex-hash"),
        pytest.param("c2sp.org/tlog-proof@v1\nindex 1\n" + f"{_H}\n" * 65, id="too-many"),
    ],
)
def test_malformed_tlog_proofs_are_rejected(head, log_key):
    _, _, note = _small_log(log_key, 3)
    with pytest.raises(NoteError):
        parse_tlog_proof(head + "\n" + note)


def test_tlog_proof_needs_a_signed_checkpoint(log_key):
    _, get, note = _small_log(log_key, 3)
    body, _ = split_note(note)
    with pytest.raises(NoteError):
        format_tlog_proof(1, inclusion_proof(1, 3, get), body)
    with pytest.raises(NoteError):
        parse_tlog_proof(f"c2sp.org/tlog-proof@v1\nindex 1\n{_H}\n\n{body}")
    with pytest.raises(NoteError):
        parse_tlog_proof(f"c2sp.org/tlog-proof@v1\nindex 1\n{_H}\n")
