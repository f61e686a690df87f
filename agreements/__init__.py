"""Data-sharing agreements: lifecycle, data schedule, and the one path for disclosure."""
