"""Step Functions task handlers (lambda_function), one per state of statemachine.asl.json."""
from chalice import Blueprint

workflow_tasks = Blueprint(__name__)
