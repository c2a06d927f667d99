"""What the kit ships for tests, its own and its users': fakes for the clients
(`testing.expected`) and the exactly-once invariants of the order ledger (`testing.invariants`).

    from komet_ftd_ops.testing import ExpectedRequests
"""

from .expected import ExpectedRequests, UnexpectedRequest

__all__ = ["ExpectedRequests", "UnexpectedRequest"]
