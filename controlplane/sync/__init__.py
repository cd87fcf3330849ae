"""Copying finished records to other video servers: destinations, jobs, the runner."""
