"""SQS handlers: the creation queue starts the workflow."""
from chalice import Blueprint

queue_handlers = Blueprint(__name__)
