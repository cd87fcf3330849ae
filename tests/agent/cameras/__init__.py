"""Tests of `agent.cameras`."""
