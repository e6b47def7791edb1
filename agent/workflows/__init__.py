"""Business workflows: request kinds and their follow-ups, scheduled reports, the sweep that
expires and reminds."""
