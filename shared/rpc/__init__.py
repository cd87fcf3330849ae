"""Generated gRPC code for the agent protocol (`proto/shared/rpc/agent.proto`).

Produced by `make proto` with the pinned grpcio-tools; never edit these modules by hand.
"""
