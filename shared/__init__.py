"""Code used by both the control plane and the recorder agent: the gRPC protocol, ffmpeg
argument validation, credential redaction and the common enums."""
