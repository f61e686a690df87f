"""Subject access: a DPO's pack of everything held about one speaker, and the pack as a file."""
