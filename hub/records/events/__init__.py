"""Events: the record, its risk assessment, the decision and appeals, and the report after it."""
