"""Scheduled tasks: the outbox relay republishes what a crash between commit and send left behind."""
from __future__ import annotations

import logging
from typing import Any

from chalice import Blueprint, Rate

from chalicelib.bootstrap import container

log = logging.getLogger(__name__)

schedules = Blueprint(__name__)


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="relay_outbox")
def relay_outbox(event: Any) -> dict:
    sent = container().outbox_relay.run_once()
    if sent:
        log.warning("outbox relay republished stranded messages", extra={"count": sent})
    return {"republished": sent}


@schedules.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_orders")
def sweep_orders(event: Any) -> dict:
    return container().redrive.sweep()
