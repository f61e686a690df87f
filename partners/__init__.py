"""Organisations, people, roles and sign-in: the partners directory."""
