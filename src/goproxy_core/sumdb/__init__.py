"""goproxy_core.sumdb."""
