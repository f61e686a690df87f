"""Home-organisation sign-in with OpenID Connect."""
