"""A partner system calling the Prevent information-sharing hub, end to end.

It gets an access token with the client credentials grant, authenticating with
`private_key_jwt` (Authlib's httpx client), searches speakers for a stated purpose on behalf of
a named member of staff, then checks the hub's own record of that search: it finds the audit
entry carrying the request id it sent, fetches an inclusion proof for it and verifies the proof
against the hub's signed checkpoint (RFC 9162 and C2SP signed notes, re-implemented here in a
few lines so that a partner needs none of the hub's code).

    python examples/partner_client.py keygen --key client-key.json --jwks client-jwks.json
    python examples/partner_client.py search --hub http://127.0.0.1:8000 \\
        --client-id hubc_... --key client-key.json --query "Ember Quillfeather"

Settings may also come from HUB_URL, HUB_CLIENT_ID, HUB_CLIENT_KEY and HUB_LOG_KEY. Needs
`authlib`, `httpx2` and `cryptography` (pip install authlib httpx2 cryptography); Authlib's httpx
integration runs on httpx2, the maintained successor of httpx.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuth2Auth, OAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

SCOPES = "speakers:read audit:read audit:verify"
ASSERTION_LIFETIME = 60  # seconds; the hub refuses assertions that live more than five minutes
AUDIT_LEAF_PREFIX = b"hub-audit/v1\n"
MAX_ENTRIES_PER_CALL = 1000
WAIT_FOR_CHECKPOINT = 30  # seconds; the hub signs a new checkpoint every few seconds


class VerificationError(Exception):
    """Something the hub sent does not check out."""


# --- keys --------------------------------------------------------------------------------------


def load_key(path: str | Path) -> ECKey | OKPKey:
    """The client's private key: a JWK file (Ed25519 or P-256) with a `kid`."""
    data = json.loads(Path(path).read_text())
    if data.get("kty") == "OKP":
        key: ECKey | OKPKey = OKPKey.import_key(data)
    elif data.get("kty") == "EC":
        key = ECKey.import_key(data)
    else:
        raise SystemExit(f"{path}: the key must be an Ed25519 (OKP) or P-256 (EC) private JWK")
    if not key.is_private:
        raise SystemExit(f"{path}: this is a public key; the client needs its private key")
    key.ensure_kid()
    return key


def algorithm_of(key: ECKey | OKPKey, supported: list[str] | None = None) -> str:
    """The JWS algorithm for this kind of key: for Ed25519 the fully specified "Ed25519"
    (RFC 9864) when the hub lists it, else "EdDSA"."""
    if isinstance(key, ECKey):
        return "ES256"
    return "Ed25519" if supported is None or "Ed25519" in supported else "EdDSA"


def keygen(key_path: Path, jwks_path: Path, kind: str) -> None:
    """Write a new private key (keep it secret) and the public JWKS to register at the hub."""
    key = OKPKey.generate_key("Ed25519") if kind == "Ed25519" else ECKey.generate_key("P-256")
    key.ensure_kid()
    key_path.touch(mode=0o600)
    key_path.write_text(json.dumps({**key.as_dict(private=True), "kid": key.kid}, indent=2))
    public = {**key.as_dict(private=False), "kid": key.kid, "use": "sig"}
    jwks_path.write_text(json.dumps({"keys": [public]}, indent=2))
    print(f"private key: {key_path} (keep it secret)\npublic JWKS: {jwks_path} (register it)")


# --- OAuth: private_key_jwt with Authlib, plus DPoP (which Authlib lacks) ------------------------


class HubPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's private_key_jwt with what the hub requires: `aud` is the issuer (not the token
    endpoint, as Authlib assumes) and the assertion lives a minute (not Authlib's hour)."""

    def __init__(self, issuer: str, alg: str) -> None:
        super().__init__(token_endpoint=issuer, alg=alg)

    def sign(self, auth: Any, token_endpoint: str) -> str:
        now = int(time.time())
        with warnings.catch_warnings():
            # joserfc flags "EdDSA" (RFC 9864 prefers "Ed25519"); it is what older hubs accept.
            warnings.simplefilter("ignore")
            return private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=self.token_endpoint,  # the issuer: the assertion's audience
                alg=self.alg,
                issued_at=now,
                expires_at=now + ASSERTION_LIFETIME,
                header={"kid": auth.client_secret.kid},
            )


class DPoP:
    """RFC 9449 proofs from one key pair, remembering the last nonce the hub gave."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.nonce: str | None = None

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        parts = httpx2.URL(url)
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": str(parts.copy_with(query=None, fragment=None)),
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if self.nonce:
            claims["nonce"] = self.nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"])

    def learn_nonce(self, response: httpx2.Response) -> bool:
        """Keep a nonce the hub sent; True if it is new (worth a retry)."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce and nonce != self.nonce:
            self.nonce = nonce
            return True
        return False


class HubTokenAuth(OAuth2Auth):
    """Bearer tokens as Authlib sends them; DPoP-bound tokens with a fresh proof per request,
    retried once when the hub asks for a nonce."""

    def auth_flow(self, request: httpx2.Request):  # type: ignore[no-untyped-def]
        if self.token.get("token_type", "").lower() != "dpop":
            yield from super().auth_flow(request)
            return
        dpop: DPoP = self.client.dpop
        token = self.token["access_token"]
        request.headers["Authorization"] = f"DPoP {token}"
        request.headers["DPoP"] = dpop.proof(request.method, str(request.url), token)
        response = yield request
        if response.status_code == 401 and dpop.learn_nonce(response):
            request.headers["DPoP"] = dpop.proof(request.method, str(request.url), token)
            yield request
        else:
            dpop.learn_nonce(response)


class HubClient(OAuth2Client):
    """Authlib's httpx OAuth 2.0 client, for the hub: private_key_jwt, optional DPoP."""

    token_auth_class = HubTokenAuth

    def __init__(self, hub: str, client_id: str, key: ECKey | OKPKey, *, use_dpop: bool) -> None:
        self.hub = hub.rstrip("/")
        self.dpop = DPoP() if use_dpop else None
        metadata = httpx2.get(self.hub + "/.well-known/oauth-authorization-server", timeout=10)
        metadata.raise_for_status()
        self.server = metadata.json()
        if self.server["issuer"] != self.hub:
            raise VerificationError(
                f"the hub says its issuer is {self.server['issuer']!r}, not {self.hub!r}"
            )
        super().__init__(
            client_id=client_id,
            client_secret=key,
            token_endpoint_auth_method="private_key_jwt",  # noqa: S106 (a method, not a secret)
            revocation_endpoint_auth_method="private_key_jwt",
            scope=SCOPES,
            token_endpoint=self.server["token_endpoint"],
            grant_type="client_credentials",  # lets Authlib fetch a new token when one expires
            timeout=30,
        )
        supported = self.server.get("token_endpoint_auth_signing_alg_values_supported")
        self.register_client_auth_method(HubPrivateKeyJWT(self.hub, algorithm_of(key, supported)))
        self.register_compliance_hook("access_token_response", self._note_nonce)

    def _note_nonce(self, response: httpx2.Response) -> httpx2.Response:
        if self.dpop is not None:
            self.dpop.learn_nonce(response)
        return response

    def fetch_token(self, url: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Client credentials; with DPoP, a proof for the token endpoint (and the nonce retry)."""
        url = url or self.server["token_endpoint"]
        kwargs.setdefault("grant_type", "client_credentials")
        if self.dpop is None:
            return super().fetch_token(url, **kwargs)
        for attempt in range(2):
            headers = {
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                "DPoP": self.dpop.proof("POST", url),
            }
            try:
                return super().fetch_token(url, headers=headers, **kwargs)
            except OAuthError as exc:
                if exc.error != "use_dpop_nonce" or attempt:
                    raise
        raise AssertionError("unreachable")

    def revoke(self) -> None:
        """RFC 7009: the token is of no use once the work is done."""
        response = self.revoke_token(
            self.server["revocation_endpoint"],
            token=self.token["access_token"],
            token_type_hint="access_token",  # noqa: S106 (a hint, not a secret)
        )
        response.raise_for_status()


# --- the audit log: C2SP signed notes and RFC 9162 inclusion proofs ------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the log's origin, size and root hash."""

    origin: str
    size: int
    root: bytes
    key_name: str


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """`<name>+<hex key id>+<base64(0x01 || Ed25519 public key)>` -> name, key id, key."""
    name, key_id, material = vkey.strip().split("+", 2)
    raw = base64.b64decode(material, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise VerificationError("the log's verifier key is not an Ed25519 signed-note key")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if bytes.fromhex(key_id) != expected:
        raise VerificationError("the log's verifier key has a key id that does not match it")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_checkpoint(note: str, vkey: str) -> Checkpoint:
    """Check the hub's signature on a checkpoint note and read its size and root."""
    name, key_id, public_key = parse_verifier_key(vkey)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise VerificationError("the checkpoint is not a signed note")
    text, signatures = note[: cut + 1], note[cut + 2 :].splitlines()
    for line in signatures:
        signer, _, blob = line.removeprefix("\u2014 ").partition(" ")
        signature = base64.b64decode(blob)
        if signer == name and signature[:4] == key_id:
            try:
                public_key.verify(signature[4:], text.encode())
            except InvalidSignature as exc:
                raise VerificationError("the checkpoint's signature does not verify") from exc
            break
    else:
        raise VerificationError(f"the checkpoint carries no signature by {name}")
    origin, size, root = text.splitlines()[:3]
    if origin != name:
        raise VerificationError(f"the checkpoint is for log {origin!r}, the key for {name!r}")
    return Checkpoint(origin, int(size), base64.b64decode(root), name)


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2: the root that `proof` leads to from the leaf hash at `index`."""
    if index >= size:
        raise VerificationError("the entry's index is beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("the inclusion proof is too short")
    return r


# --- the walk-through ----------------------------------------------------------------------------


@dataclass
class Report:
    """What the example did and found (printed, or as JSON with --json)."""

    hub: str
    client_id: str
    token_type: str = ""
    scopes: list[str] = field(default_factory=list)
    expires_in: int = 0
    request_id: str = ""
    query: str = ""
    purpose: str = ""
    on_behalf_of: str = ""
    total: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    entry_index: int = -1
    entry: dict[str, Any] = field(default_factory=dict)
    disclosures: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_origin: str = ""
    checkpoint_size: int = 0
    checkpoint_root: str = ""
    log_key_pinned: bool = False
    proof_hashes: int = 0
    inclusion_verified: bool = False
    revoked: bool = False


def _checkpoint(client: HubClient, vkey: str) -> Checkpoint:
    response = client.get(client.hub + "/api/v1/audit/checkpoint")
    response.raise_for_status()
    return verify_checkpoint(response.text, vkey)


def _entries(client: HubClient, start: int, end: int) -> list[dict[str, Any]]:
    """Entries in [start, end) this client's organisation may see (paged by the hub's limit)."""
    found = []
    for low in range(start, end, MAX_ENTRIES_PER_CALL):
        high = min(end, low + MAX_ENTRIES_PER_CALL)
        response = client.get(
            client.hub + "/api/v1/audit/entries", params={"start": low, "end": high}
        )
        response.raise_for_status()
        found.extend(response.json()["entries"])
    return found


def _read_leaf(item: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """An entry's exact leaf bytes and the JSON they carry (the bytes are what is proven)."""
    leaf = base64.b64decode(item["leaf"])
    if not leaf.startswith(AUDIT_LEAF_PREFIX):
        raise VerificationError(f"entry {item['index']} is not a hub audit leaf")
    return leaf, json.loads(leaf[len(AUDIT_LEAF_PREFIX) :])


def run(
    hub: str,
    client_id: str,
    key: ECKey | OKPKey,
    *,
    query: str,
    purpose: str,
    on_behalf_of: str,
    log_key: str | None = None,
    use_dpop: bool = False,
    revoke: bool = True,
) -> Report:
    """Token, search, audit entry, checkpoint, inclusion proof: returns what was found."""
    report = Report(hub=hub.rstrip("/"), client_id=client_id, query=query, purpose=purpose)
    with HubClient(hub, client_id, key, use_dpop=use_dpop) as client:
        token = client.fetch_token()
        report.token_type = token["token_type"]
        report.scopes = token.get("scope", "").split()
        report.expires_in = int(token.get("expires_in", 0))

        report.log_key_pinned = log_key is not None
        if log_key is None:  # trust on first use; a partner should pin the key it was given
            response = client.get(client.hub + "/api/v1/audit/verifier-key")
            response.raise_for_status()
            log_key = response.text.strip()
        before = _checkpoint(client, log_key)

        report.request_id = str(uuid.uuid4())
        report.on_behalf_of = on_behalf_of
        response = client.get(
            client.hub + "/api/v1/shared/speakers",
            params={"q": query},
            headers={
                "Hub-Purpose": purpose,
                "Hub-On-Behalf-Of": on_behalf_of,
                "X-Request-Id": report.request_id,
            },
        )
        if response.status_code != 200:
            raise VerificationError(
                f"the search was refused ({response.status_code}): {response.text}"
            )
        page = response.json()
        report.total = page["total"]
        report.results = [
            {
                "id": hit["id"],
                "owner": hit["owner"],
                "own": hit["own"],
                "display_name": (hit.get("data") or {}).get("display_name", ""),
                "disclosed_under": hit.get("disclosed_under"),
            }
            for hit in page["results"]
        ]

        # The search's own entry, once a signed checkpoint covers it.
        deadline = time.monotonic() + WAIT_FOR_CHECKPOINT
        searched_from = before.size
        while True:
            checkpoint = _checkpoint(client, log_key)
            ours = []
            for item in _entries(client, searched_from, checkpoint.size):
                leaf, entry = _read_leaf(item)
                if entry.get("request_id") == report.request_id:
                    ours.append((item["index"], leaf, entry))
            search = [o for o in ours if o[2]["action"] == "speaker.search"]
            if search:
                break
            if time.monotonic() > deadline:
                raise VerificationError(
                    f"no audit entry with request id {report.request_id} in a signed checkpoint "
                    f"after {WAIT_FOR_CHECKPOINT} s"
                )
            time.sleep(1)
        report.disclosures = [
            {
                "index": index,
                "resource_ids": e.get("resource_ids", []),
                "fields": e.get("fields", []),
            }
            for index, _leaf, e in ours
            if e["action"] == "disclosure"
        ]
        index, leaf, entry = search[0]
        report.entry_index, report.entry = index, entry
        report.checkpoint_origin = checkpoint.origin
        report.checkpoint_size = checkpoint.size
        report.checkpoint_root = base64.b64encode(checkpoint.root).decode()

        response = client.get(
            client.hub + "/api/v1/audit/proof/inclusion",
            params={"index": index, "size": checkpoint.size},
        )
        response.raise_for_status()
        proof = response.json()
        if base64.b64decode(proof["leaf_hash"]) != leaf_hash(leaf):
            raise VerificationError("the proof is for another leaf than the entry the hub showed")
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        root = root_from_inclusion_proof(index, checkpoint.size, leaf_hash(leaf), hashes)
        if root != checkpoint.root:
            raise VerificationError("the inclusion proof does not lead to the checkpoint's root")
        report.proof_hashes = len(hashes)
        report.inclusion_verified = True

        if revoke:
            client.revoke()
            report.revoked = True
    return report


def print_report(report: Report) -> None:
    """A short account a person can read."""
    print(f"Hub         {report.hub} (issuer checked)")
    print(
        f"Token       {report.token_type}, {report.expires_in} s, scopes: "
        f"{' '.join(report.scopes)} (client {report.client_id}, private_key_jwt)"
    )
    print(
        f'Search      "{report.query}" for {report.purpose} on behalf of {report.on_behalf_of}: '
        f"{report.total} result(s)"
    )
    for hit in report.results:
        under = hit["disclosed_under"]
        how = f"under {under['reference']} v{under['version']}" if under else "own record"
        print(f"            - {hit['display_name'] or hit['id']} ({hit['owner']}), {how}")
    print(f"Request id  {report.request_id}")
    entry = report.entry
    print(
        f"Audit entry #{report.entry_index}: {entry.get('action')} {entry.get('outcome')}, "
        f"actor {entry.get('actor')}, purpose {entry.get('purpose')}, on behalf of "
        f"{entry.get('on_behalf_of')}"
    )
    for item in report.disclosures:
        print(
            f"            + disclosure #{item['index']}: {', '.join(item['resource_ids'])} "
            f"(fields: {', '.join(item['fields']) or 'existence only'})"
        )
    pinned = "pinned" if report.log_key_pinned else "fetched from the hub: pin it with --log-key"
    print(
        f"Checkpoint  {report.checkpoint_origin}, size {report.checkpoint_size}, "
        f"signature verified (key {pinned})"
    )
    print(
        f"Inclusion   proof of {report.proof_hashes} hash(es) verified: entry "
        f"#{report.entry_index} is in the tree of {report.checkpoint_size} entries, root "
        f"{report.checkpoint_root}"
    )
    if report.revoked:
        print("Token       revoked (RFC 7009)")


def main(argv: list[str] | None = None) -> int:
    """`keygen` writes a key pair; `search` runs the walk-through."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("keygen", help="write a private key and its public JWKS")
    gen.add_argument("--key", type=Path, default=Path("client-key.json"))
    gen.add_argument("--jwks", type=Path, default=Path("client-jwks.json"))
    gen.add_argument("--kind", choices=["Ed25519", "P-256"], default="Ed25519")
    go = commands.add_parser("search", help="token, search, audit entry, inclusion proof")
    go.add_argument("--hub", default=os.environ.get("HUB_URL", "http://127.0.0.1:8000"))
    go.add_argument("--client-id", default=os.environ.get("HUB_CLIENT_ID"))
    go.add_argument("--key", default=os.environ.get("HUB_CLIENT_KEY", "client-key.json"))
    go.add_argument("--query", default="Ember Quillfeather")
    go.add_argument("--purpose", default="speaker_due_diligence")
    go.add_argument("--on-behalf-of", default="staff-0001", help="your id for the member of staff")
    go.add_argument("--log-key", default=os.environ.get("HUB_LOG_KEY"), help="pinned verifier key")
    go.add_argument("--dpop", action="store_true", help="the client is registered DPoP-bound")
    go.add_argument("--keep-token", action="store_true", help="do not revoke the token at the end")
    go.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        keygen(args.key, args.jwks, args.kind)
        return 0
    if not args.client_id:
        parser.error("give --client-id (or HUB_CLIENT_ID)")
    try:
        report = run(
            args.hub,
            args.client_id,
            load_key(args.key),
            query=args.query,
            purpose=args.purpose,
            on_behalf_of=args.on_behalf_of,
            log_key=args.log_key,
            use_dpop=args.dpop,
            revoke=not args.keep_token,
        )
    except (VerificationError, OAuthError, httpx2.HTTPError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
