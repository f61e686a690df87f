"""Regional working groups: members under a multi-party agreement, meetings, actions."""
