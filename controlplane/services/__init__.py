"""Business rules of the control plane, between the thin routes and the data layer."""
