"""The cameras: what the agent knows of one (`spec`), one picture of it now (`snapshot`), whether
it answers (`rtsp_probe`, `prober`). Every failure leaves here as a credential-free `CameraError`."""
