"""Entrypoints: one Chalice blueprint per kind of Lambda entry, and the middleware all of them run through.

Chalice names a blueprint function's Lambda handler after its module (`chalicelib.entrypoints.
workflow_tasks.load_order`), so in AWS such a function starts by importing that module, not app.py;
the app, which attaches the middleware to every handler when it registers the blueprints, is imported
below so that every function runs as the local stack and the tests run it. Only declarations load at
import; the code behind each entry loads with its first call.
"""


def chalice_middleware(event, get_response):
    """Registered in app.py for every event; chalicelib.observability.chalice_middleware does the work."""
    from chalicelib.observability import chalice_middleware as observed

    return observed(event, get_response)


import app  # noqa: E402,F401 — see the module docstring; when app.py came first this is a no-op
