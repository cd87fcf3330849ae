"""Talking to recorder agents over gRPC: channels, deadlines, and the one boundary that turns gRPC
errors into the control plane's own exceptions."""
