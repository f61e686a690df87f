"""API schemas for the institution workflow."""
