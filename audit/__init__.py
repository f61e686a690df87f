"""The append-only, verifiable audit log."""
