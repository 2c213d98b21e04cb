"""Providers: one module per config `type`, registered in `base.REGISTRY`."""
