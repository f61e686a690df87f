"""Institution records, one subpackage per sub-domain (speakers, events, advisory, sharing),
with what spans them beside: the tables, permissions, subject access, retention, CSV import."""
