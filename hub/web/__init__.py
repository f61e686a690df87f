"""The web shell: layout, sign-in pages, dashboards, error pages and security headers."""
