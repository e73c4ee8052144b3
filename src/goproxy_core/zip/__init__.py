"""goproxy_core.zip."""
