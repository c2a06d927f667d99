"""The kernel's side of a run's handoff (`runs.child` is the other): what the run adds to a
kernel that may have started before the run's profile was known.

The child starts the kernel with one end of a socket pair (its number in CHANNEL_VARIABLE). When
the run is handed over, the child sends the run's environment (the PostgreSQL lease the store
re-checks), its working folder, and the profile lock's descriptor; `take_run` is executed
quietly in the kernel before the notebook's first cell. The kernel then holds the lock as if it
had inherited it at its start: the profile stays locked until the last process of the run is
gone. Nothing of this reaches the notebook.
"""

from __future__ import annotations

import json
import os
import socket

CHANNEL_VARIABLE = "KOMET_FTD_OPS_RUN_CHANNEL"

# The descriptors received (the profile lock): open until the kernel exits, never closed.
HELD: list[int] = []


def take_run() -> None:
    """Receive the run from the child: apply its environment and folder, keep its lock."""
    fd = int(os.environ.pop(CHANNEL_VARIABLE))
    with socket.socket(fileno=fd) as sock:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        chunks = [data]
        while data:
            data = sock.recv(1 << 16)
            chunks.append(data)
    HELD.extend(fds)
    message = json.loads(b"".join(chunks))
    os.environ.update(message["env"])
    os.chdir(message["cwd"])
