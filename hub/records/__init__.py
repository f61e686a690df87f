"""Institution records: speakers, assertions, events, assessments, decisions, advisory requests."""
