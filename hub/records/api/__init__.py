"""The institution workflow over the JSON API."""
