"""Scheduled tasks: the outbox relay."""
from chalice import Blueprint

schedules = Blueprint(__name__)
