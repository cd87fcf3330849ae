"""Tests of `agent.files`."""
