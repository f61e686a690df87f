"""Home-organisation sign-in: each organisation's OpenID Connect identity provider."""
