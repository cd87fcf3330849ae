"""Files on the agent's disk: where a record's files live (`layout`), how its parts become the
final file (`finalise`), reading byte ranges (`reads`), and copies received by sync (`copies`)."""
