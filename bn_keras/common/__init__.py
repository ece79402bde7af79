"""Low-level helpers every layer may use: errors shown to users, crash-safe and checked writes."""
