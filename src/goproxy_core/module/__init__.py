"""goproxy_core.module."""
