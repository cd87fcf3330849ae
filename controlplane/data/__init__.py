"""The data layer: every SQL statement of the control plane. Functions flush, never commit:
the caller (a route or a background loop) owns the transaction."""
