"""Reusable fakes for testing code that uses the kit's clients, without a network.

`ExpectedRequests` is an `httpx.MockTransport` handler that answers a scripted list of requests
in order and fails loudly on any request it did not expect:

    fake = ExpectedRequests()
    fake.expect("GET", "/api/customer.details.get", json={"status": "1", "customer": {...}})
    client = KometClient(config, transport=fake.transport())
    ...
    fake.assert_done()
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


class UnexpectedRequest(AssertionError):
    pass


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class _Expectation:
    method: str
    path: str
    respond: Responder
    check: Callable[[httpx.Request], None] | None = None


@dataclass
class ExpectedRequests:
    """Scripted fake server: each expected request in order, then nothing else."""

    expectations: deque[_Expectation] = field(default_factory=deque)
    seen: list[httpx.Request] = field(default_factory=list)

    def expect(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        status: int = 200,
        text: str | None = None,
        headers: dict[str, str] | None = None,
        respond: Responder | None = None,
        raises: Exception | None = None,
        check: Callable[[httpx.Request], None] | None = None,
    ) -> ExpectedRequests:
        if respond is None:

            def respond(request: httpx.Request) -> httpx.Response:
                if raises is not None:
                    raise raises
                if text is not None:
                    return httpx.Response(status, text=text, headers=headers)
                return httpx.Response(status, json=json, headers=headers)

        self.expectations.append(_Expectation(method.upper(), path, respond, check))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if not self.expectations:
            raise UnexpectedRequest(f"unexpected request: {request.method} {request.url.path}")
        exp = self.expectations.popleft()
        if (request.method, request.url.path) != (exp.method, exp.path):
            raise UnexpectedRequest(
                f"expected {exp.method} {exp.path}, got {request.method} {request.url.path}"
            )
        if exp.check is not None:
            exp.check(request)
        return exp.respond(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def assert_done(self) -> None:
        if self.expectations:
            left = ", ".join(f"{e.method} {e.path}" for e in self.expectations)
            raise AssertionError(f"expected requests never made: {left}")
