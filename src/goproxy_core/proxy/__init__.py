"""goproxy_core.proxy."""
