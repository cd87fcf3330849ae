"""Everything the agent needs to run ffmpeg: the one supervisor of an ffmpeg child process
(`process`), the argument lists the agent runs it with (`commands`) and the parser that cuts its
MJPEG output into single JPEG images (`jpeg`). Nothing here knows about sources or viewers."""
