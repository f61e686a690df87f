"""Configuration, database, errors, extensions and the acting party: what every package uses."""
