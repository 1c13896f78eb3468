"""HTTP routes of AME (contracts §2)."""
from chalice import Blueprint

api = Blueprint(__name__)


@api.route("/health", methods=["GET"])
def health() -> dict:
    return {"status": "ok"}
