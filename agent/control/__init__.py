"""The agent towards its control plane: the heartbeat that reports it and takes back its assigned
sources (`heartbeat`), and the runtime facts it reports (`runtime`)."""
