"""What the test suite and the benchmarks both start and wait on: the stack (control plane, agents,
test cameras, databases, S3), and the one way to wait for a condition. A package of its own, not
under tests/: a benchmark is not a test, and it imports this, never the tests."""
