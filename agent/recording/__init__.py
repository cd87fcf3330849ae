"""Recording: all records of this agent (`manager`), one record's restart loop (`recorder`), one
ffmpeg run writing one part (`attempt`), its watchdog (`watchdog`) or picture feed
(`picture_feed`), what a record holds over time (`timeline`), the journal that survives a restart
(`journal`), and ffmpegs left by an agent that died (`orphans`)."""
