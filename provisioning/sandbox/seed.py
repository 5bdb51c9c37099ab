"""Placeholder until the sandbox lands: the demo tenant's connection facts."""


def ensure_demo_tenant(base_url):
    raise NotImplementedError("the sandbox is not built yet")
