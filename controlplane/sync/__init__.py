"""Copying finished records elsewhere: where copies go, and the jobs that send them.

- `locations.py`: a `location` string checked against the allow-list, turned into a destination.
- `destinations/`: the `Destination` protocol (`copy`, `delete`, `owns`) and its agent, peer and s3 kinds.
- `bucket/`: S3-compatible storage itself (names and keys, the verified client, multipart uploads).
- `throttle.py`: the one bandwidth cap, applied to every copy's source stream.
- `runner.py` (which jobs run, a few at once, one per destination), `job.py` (one job: plan, copy,
  finish), `lease.py` (the lease that fences a replica's writes and stops it when lost)."""
