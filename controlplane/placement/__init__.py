"""Placement: which agent records each source, and what happens to an agent's work when it is lost.

- `room`: the agents that may take work, and the choice between them (least loaded, steady first).
- `single`: sources that name no agent are placed; a down agent's sources move within their site.
- `dual`: the second copy of a source recorded twice (`redundancy: 2`).
- `continuation`: a record lost with its agent, or failed after a failover, continues elsewhere.
- `hold`: when a replica must declare nobody down (it is late itself, or most agents went quiet).
- `loop`: the one background loop that runs all of the above and alone commits.

Every write is a conditional UPDATE (controlplane.data), so any number of replicas may run the loop at
once: the database settles each race, and the loser's write matches no row. Heartbeats never place:
a beat with nothing new costs almost nothing (services.heartbeats), and the loop is woken when a
source is added on this replica, and looks again every second on every replica."""
