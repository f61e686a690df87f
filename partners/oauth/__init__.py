"""The partner API's authorization server: client credentials with private_key_jwt, RFC 9068
JWT access tokens, DPoP (RFC 9449), revocation and introspection."""

import warnings

from joserfc.errors import SecurityWarning

# Partner clients sign with "EdDSA" (RFC 8037), the name openid-client and most libraries send;
# RFC 9864 prefers "Ed25519", and joserfc warns on each use. The hub accepts both. The warning
# is silenced once, here, for the whole process: `warnings.catch_warnings` around each decode
# changed the process's filters per request, which is not thread-safe (gunicorn runs threads)
# and reset every module's record of warnings already shown.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)
