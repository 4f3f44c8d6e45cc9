"""Keys this process has seen authenticate, so the one-statement paths need no round trip of
their own to authenticate a request.

A request whose token is known here and whose secret hashes to the known hash (compared in
constant time, as always) goes on to its one statement carrying a `KeyCheck`: the database
confirms, in that same statement and before it writes anything, that the key is still active,
that its tenant's program settings are still the ones the request was prepared with, and that
the client's address is not blocked. When any of that fails the statement does nothing, and
the route authenticates the request the full way (which answers 401 or 429, or finds the new
settings) before its general path. So a revocation, a settings change or a block applies to
the very next request, as without the cache. Only the stored hash is kept, never a secret.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from fidelis.tenant.repository import KeyRecord


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The arguments of `fidelis_key_allows` (`ledger.pgfunctions`), in its order."""

    key_id: int
    program: str  # the tenant's program settings as stored, compared as text
    scope: str
    client: str
    since: datetime
    failures: int

    def args(self) -> tuple[int, str, str, str, datetime, int]:
        return (self.key_id, self.program, self.scope, self.client, self.since, self.failures)


class KeyCache:
    """The latest record of each token that authenticated here, the least recently used dropped
    beyond `size` (a process serves a handful of keys; the bound only caps memory)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._records: OrderedDict[str, KeyRecord] = OrderedDict()

    def remember(self, record: KeyRecord) -> None:
        self._records[record.token] = record
        self._records.move_to_end(record.token)
        while len(self._records) > self._size:
            self._records.popitem(last=False)

    def forget(self, token: str) -> None:
        self._records.pop(token, None)

    def match(self, token: str, secret_hash: str) -> KeyRecord | None:
        """The record of `token` if its stored hash equals `secret_hash` (constant time)."""
        record = self._records.get(token)
        if record is None or not hmac.compare_digest(secret_hash, record.secret_hash):
            return None
        self._records.move_to_end(token)
        return record
