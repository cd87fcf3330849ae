"""The agent towards its control plane: the heartbeat that reports it and takes back its assigned
sources (`heartbeat`); the facts it reports are `agent.runtime`'s."""
