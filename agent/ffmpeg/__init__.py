"""Everything the agent needs to run ffmpeg: the one supervisor of an ffmpeg child process
(`process`), every ffmpeg and ffprobe argument list the agent runs (`commands`), what ffprobe says
of a file (`probe`) and the parser that cuts MJPEG output into single JPEG images (`jpeg`).
Nothing here knows about sources, records or viewers."""
