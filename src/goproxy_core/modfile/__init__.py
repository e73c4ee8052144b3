"""goproxy_core.modfile."""
