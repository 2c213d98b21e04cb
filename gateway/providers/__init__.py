"""Providers: one module per config `type`, registered in `registry.REGISTRY`."""
