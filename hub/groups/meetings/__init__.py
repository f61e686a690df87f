"""Meetings of working groups: agenda and case items, attendance, minutes, decisions, feedback."""
