"""One verifying TLS context per process, shared by every client the process opens.

Each `httpx.Client` otherwise builds its own, loading the CA bundle again: about 35 ms of CPU
per client, two clients a cycle, and every cycle of a warm kernel or the scheduler opens them
anew. An `ssl.SSLContext` is safe to share between clients and threads; what it verifies is
httpx's default (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def verifying_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
