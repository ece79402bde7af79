"""The sweep's library: planning, running and deciding when enough seeds have run."""
