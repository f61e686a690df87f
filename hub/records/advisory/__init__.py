"""Advisory requests to the police through the regional coordinator, and the annual return."""
