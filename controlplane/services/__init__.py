"""Business rules of the control plane, between the thin routes and the data layer.

Transactions, one rule everywhere:
- A route's request owns its session and commits once, after the service returns.
- A service commits only where it must end the transaction before waiting on something outside the
  database: before calling agents (the records exist, committed, before any agent is asked, so a
  crash leaves rows to reconcile, never an ffmpeg nobody knows of), before a streaming answer (an
  open write would hold SQLite's lock for as long as someone watches), and before waking another
  task that must see the row (a new sync job). After the outside call it writes what came back
  and commits again.
- Background loops (the sync runner, controlplane.placement.loop) open their own sessions and commit
  each step.
- The data layer only flushes."""
