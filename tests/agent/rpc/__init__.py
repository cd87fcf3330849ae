"""Tests of `agent.rpc`."""
