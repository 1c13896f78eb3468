"""Scheduled tasks: the outbox relay republishes what a crash between commit and send left behind; the
sweeper redrives parked and stuck orders; the partner probe resumes orders parked on a partner that is back;
the operations report emits the gauges alarms read (breakers, parked backlog); the hourly analytics export
(docs/analytics.md); the daily purge of data past its retention period (docs/data-lifecycle.md).

The composition root loads with a schedule's first run, not at import.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Rate

from chalicelib.entrypoints.middleware import observed

log = logging.getLogger(__name__)

schedules = Blueprint(__name__)


def _container() -> Any:
    from chalicelib.bootstrap import container

    return container()


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="relay_outbox")
@observed
def relay_outbox(event: Any) -> dict:
    sent = _container().outbox_relay.run_once()
    if sent:
        log.warning("outbox relay republished stranded messages", extra={"count": sent})
    return {"republished": sent}


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_orders")
@observed
def sweep_orders(event: Any) -> dict:
    return _container().redrive.sweep()


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="report_operations")
@observed
def report_operations(event: Any) -> dict:
    # Gauges the alarms read every minute: breakers open, parked backlog and its oldest order (docs/runbook.md).
    return _container().operations_report.run()


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="resume_parked")
@observed
def resume_parked(event: Any) -> dict:
    return _container().recovery.probe()


@schedules.schedule(Rate(1, unit=Rate.HOURS), name="export_analytics")
@observed
def export_analytics(event: Any) -> dict:
    # Runs with the AWS SDK for pandas layer (pyarrow), attached to this function only (.chalice/config.json).
    return _container().analytics_export.run().as_dict()


@schedules.schedule(Rate(1, unit=Rate.DAYS), name="purge_data")
@observed
def purge_data(event: Any) -> dict:
    return _container().retention.run().as_dict()
