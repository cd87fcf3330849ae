"""Copying finished records elsewhere: the jobs that send them. Where copies go (the `Destination`
protocol, its agent, peer and s3 kinds, the allow-listed `location` strings, S3 itself) is
`controlplane.destinations`, below both this package and the services it uses.

- `throttle.py`: the one bandwidth cap, applied to every copy's source stream.
- `runner.py` (which jobs run, a few at once, one per destination), `job.py` (one job: plan, copy,
  finish), `lease.py` (the lease that fences a replica's writes and stops it when lost)."""
