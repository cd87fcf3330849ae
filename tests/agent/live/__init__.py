"""Tests of `agent.live`."""
