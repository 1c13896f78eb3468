"""Entrypoints: one Chalice blueprint per kind of Lambda entry (routes, queues, schedules, workflow tasks).

Each module holds declarations only: explicit handlers whose bodies import their code on first call, so
a function's cold start pays for what it runs and nothing else. See middleware.py for what wraps them.
"""
