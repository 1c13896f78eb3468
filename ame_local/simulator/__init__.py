"""Partner simulator for the local stack and tests: Parametrizador, Domínios, Poderes, Pessoas, Cadastro, Notificação."""

from ame_local.simulator.faults import DEFAULT_TIMEOUT_SLEEP_MS, PARTNERS, Fault, parse_faults
from ame_local.simulator.server import MAX_CPFS_PER_SEARCH, Simulator, start_simulator

__all__ = [
    "DEFAULT_TIMEOUT_SLEEP_MS",
    "MAX_CPFS_PER_SEARCH",
    "PARTNERS",
    "Fault",
    "Simulator",
    "parse_faults",
    "start_simulator",
]
