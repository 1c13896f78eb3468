"""The Chalice app: creates it, registers the blueprints and the HTTP middleware. Nothing else.

Every API cold start imports this module: what it pulls in must stay declarations only
(chalicelib/entrypoints/*); the code behind each entry loads with its first call. Queue, schedule and
task functions start from their own modules and carry the middleware themselves (entrypoints/middleware.py).
"""

from chalice import Chalice

from chalicelib.entrypoints.api import api
from chalicelib.entrypoints.middleware import chalice_middleware
from chalicelib.entrypoints.queue_handlers import queue_handlers
from chalicelib.entrypoints.schedules import schedules
from chalicelib.entrypoints.workflow_tasks import workflow_tasks

app = Chalice(app_name="ame")
app.register_blueprint(api)
app.register_blueprint(queue_handlers)
app.register_blueprint(schedules)
app.register_blueprint(workflow_tasks)
app.register_middleware(chalice_middleware, "http")
