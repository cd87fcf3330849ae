"""Files on the agent's disk: where a record's files live (`layout`), how its parts become the
final file (`finalise`), reading byte ranges (`reads`), copies received by sync (`copies`, a
package) and fetching one from another agent (`pull`)."""
