"""The probes' answers: their table and figures."""
