"""Pages for the institution workflow."""
