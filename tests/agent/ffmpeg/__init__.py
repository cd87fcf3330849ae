"""Tests of `agent.ffmpeg`."""
