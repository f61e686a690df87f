"""The partner API's authorization server: client credentials with private_key_jwt, RFC 9068
JWT access tokens, DPoP (RFC 9449), revocation and introspection."""
