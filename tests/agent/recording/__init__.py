"""Tests of `agent.recording`."""
