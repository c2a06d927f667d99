"""What the kit ships for tests, its own and its users': fakes for the clients
(`testing.expected`), a virtual clock for cycles minutes apart in no real time
(`testing.clock`), and the exactly-once invariants of the order ledger (`testing.invariants`).

    from komet_ftd_ops.testing import ExpectedRequests, VirtualClock
"""

from .clock import VirtualClock
from .expected import ExpectedRequests, UnexpectedRequest

__all__ = ["ExpectedRequests", "UnexpectedRequest", "VirtualClock"]
