"""Tests of copying finished records to other video servers."""
