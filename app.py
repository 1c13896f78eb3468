"""The Chalice app: creates it and registers the blueprints. Nothing else.

Every Lambda function of the package imports this module at cold start: what it pulls in must stay
declarations only (chalicelib/entrypoints/*), the code behind each entry loads with its first call.
"""
from chalice import Chalice

from chalicelib.entrypoints import chalice_middleware
from chalicelib.entrypoints.api import api
from chalicelib.entrypoints.queue_handlers import queue_handlers
from chalicelib.entrypoints.schedules import schedules
from chalicelib.entrypoints.workflow_tasks import workflow_tasks

app = Chalice(app_name="ame")
app.register_blueprint(api)
app.register_blueprint(queue_handlers)
app.register_blueprint(schedules)
app.register_blueprint(workflow_tasks)
app.register_middleware(chalice_middleware, "all")
