"""The recorder agent: a gRPC server next to the cameras that runs ffmpeg, keeps the files and
serves snapshots, live frames and file bytes to the control plane."""

__version__ = "0.1.0"
