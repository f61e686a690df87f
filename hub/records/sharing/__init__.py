"""Partners' records through agreements: search across organisations, a record, the inbox."""
