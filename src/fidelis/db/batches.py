"""Group commit on PostgreSQL: one hot-path statement of many concurrent requests, in one call.

A hot-path write (`ledger.hotpath`) is one call of a database function and its own
transaction. Most of what PostgreSQL spends on a call is not the function's work but what
comes with any transaction and round trip: parsing the message, taking a snapshot, the commit
and its wait for the disk, the answer; the worker spends as much to send and read it. Requests
that arrive while a call of their kind is in flight (`lanes` of them, one kept connection
each: `KeptConnections`) wait here instead, and the next call takes all of them at once (up to
`most`): one call of the function's batch form, one transaction, one commit. Under light load
nothing waits, and each request is a batch of one, sent as before.

What the batch changes, and what it does not:
- Each request still gets its answer only after its work is committed (the batch's COMMIT).
- The batch form runs the items in the order of the customers they lock, arrival order among
  one customer's (`ledger.pgfunctions._batch_form`; the order of the batch's document, which
  its unpacking keeps in practice, though SQL does not promise it: `Call`): two batches lock
  customers in the same order, so they never deadlock on them. Items of one customer run one
  after the other, as if sent so.
- One item's failure undoes the batch's transaction: when PostgreSQL answers with an error
  (nothing of the batch is written then), each item is sent again alone, and only the one
  that fails alone fails; so too when an item's arguments have no place in the document a
  batch's arguments go in (`pack`). Not when the error says the database cannot serve now (a lock
  timeout, a shutdown): then every request of the batch fails (503), as would each alone.
  Any other failure (the connection lost, the call timed out: the outcome unknown) fails
  every request of the batch too, as it would have failed each alone.
- A request given up (cancelled) before its call is sent is never sent, nor sent alone after
  its batch failed; once in a call, its outcome is the call's: the transaction commits or
  not as a whole, never half. A request that cannot be sent within the database timeout is
  refused (503) having written nothing, as one that waited that long for a connection was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from fidelis import metrics

if TYPE_CHECKING:
    from fidelis.db.engine import KeptConnections


@dataclass(frozen=True, slots=True)
class Call:
    """A hot-path function and the statements that call it (`Batches`): `one` for one
    request, its parameters the request's arguments; `many` for a batch, its one parameter the
    items' arguments packed in a JSON document (`pack`), which it unpacks into the arrays its
    batch form `<function>_many` takes (the requests' arguments, column by column), giving that
    form's rows, the item's number (1-based) in their first column, `n`.

    The arrays are built by plain aggregates, which agree with each other (each element of the
    document is fed to all of them in turn) but in no order SQL promises; an `ORDER BY` in
    each would sort each array apart (about a quarter of the unpacking's cost). The items'
    numbers come back through an array of their places in the document, built by the same
    aggregation."""

    function: str
    one: str
    many: str

    @classmethod
    def of(
        cls, function: str, params: list[tuple[str, str]], columns: str, alone: str | None = None
    ) -> Call:
        """The calls of `function` (of parameters `params`: their names and types) giving
        `columns` (`alone`: how they are had from its row `f`, if not so named)."""
        args = ", ".join(f"${n}" for n in range(1, len(params) + 1))
        arrays = ", ".join(
            f"array_agg((j.x->>{k})::{kind}) AS a{k}" for k, (_, kind) in enumerate(params)
        )
        unpacked = ", ".join(f"a.a{k}" for k in range(len(params)))
        return cls(
            function,
            one=f"SELECT {alone or columns} FROM {function}({args}) AS f",
            many=(
                f"SELECT a.o[f.n] AS n, {columns}"
                f" FROM (SELECT array_agg(j.o) AS o, {arrays}"
                " FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS j(x, o)) AS a,"
                f" {function}_many({unpacked}) AS f"
            ),
        )


def pack(items: Iterable[tuple[Any, ...]]) -> str | None:
    """The arguments of a batch's items as `Call.many` takes them: a JSON array of one array
    per item, its arguments in order (integers, text, null; instants in ISO 8601 with their
    offset, which PostgreSQL reads back exactly). One document rather than one array argument
    per parameter: the driver encodes an array element by element, which cost the worker more
    than the rest of the call (about 114 000 instructions an item against 28 000, a batch of
    16 credits), while PostgreSQL reads the document in about 5 us an item. None when an argument
    has no JSON form (an integer beyond 64 bits, text with a lone surrogate): the items then
    go alone, each with the driver's own encoding, so only the one at fault fails."""
    try:
        return orjson.dumps(list(items), option=orjson.OPT_NAIVE_UTC).decode()
    except orjson.JSONEncodeError:
        return None


@dataclass(slots=True)
class _Item:
    args: tuple[Any, ...]
    answer: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    sent: bool = False  # in a call to the database: its outcome is the database's now
    given_up: bool = False  # its request was cancelled: never sent again alone


class Batches:
    """The calls of one function gathered from concurrent requests (module docstring), at
    most `most` a batch; `lanes`: batches in flight at once (one connection each). A request
    not sent within `timeout` seconds is refused with `TimeoutError` (503), having written
    nothing. `alone_may_help(error)`: whether a batch PostgreSQL refused with `error` is sent
    again item by item (not when the database cannot serve, say a lock timeout: each item
    alone would wait as long again)."""

    def __init__(
        self,
        kept: KeptConnections,
        call: Call,
        *,
        lanes: int,
        timeout: float,
        alone_may_help: Callable[[BaseException], bool],
        most: int = 32,
    ) -> None:
        self._kept = kept
        self._call = call
        self._lanes = max(lanes, 1)
        self._timeout = timeout
        self._alone_may_help = alone_may_help
        self._most = most
        self._waiting: list[_Item] = []
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, args: tuple[Any, ...]) -> Any:
        """The row the call gives for `args` (None when it gives none), sent alone or in a
        batch. A request cancelled before its call was sent is never sent; once sent, its
        outcome is the call's, whatever becomes of the request."""
        item = _Item(args)
        self._waiting.append(item)
        self._start()
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(item.answer)
        except TimeoutError:
            if not item.sent:
                item.answer.cancel()
                raise
        except asyncio.CancelledError:
            _give_up(item)
            raise
        try:
            return await item.answer  # in flight: bounded by the database's own timeouts
        except asyncio.CancelledError:
            _give_up(item)
            raise

    async def wait_idle(self) -> None:
        """Wait for the batches in flight (at shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._lanes:
            batch = [i for i in self._waiting[: self._most] if not i.answer.done()]
            del self._waiting[: self._most]
            if not batch:
                continue
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._running.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start()

    async def _send(self, batch: list[_Item]) -> None:
        try:
            async with self._kept.lend() as driver:
                # Those given up while this waited for its connection are not sent.
                batch = [i for i in batch if not i.answer.done()]
                if not batch:
                    return
                for item in batch:
                    item.sent = True
                metrics.observe_batch(self._call.function, len(batch))
                if len(batch) == 1:
                    await _alone(driver, self._call.one, batch[0])
                    return
                rows = await self._together(driver, batch)
                if rows is None:
                    for item in batch:  # nothing was written: each alone
                        if item.given_up or item.answer.done():
                            item.answer.cancel()
                        else:
                            await _alone(driver, self._call.one, item)
                    return
                found = {row["n"]: row for row in rows}
                for n, item in enumerate(batch, 1):
                    _settle(item, found.get(n))
        except Exception as exc:
            for item in batch:
                if not item.answer.done():
                    item.answer.set_exception(exc)
        except BaseException:
            for item in batch:
                item.answer.cancel()
            raise

    async def _together(self, driver: Any, batch: list[_Item]) -> list[Any] | None:
        """The rows of the batch's call; None, having written nothing, when its arguments do
        not pack or PostgreSQL refused it for a reason its items alone may not meet."""
        packed = pack(i.args for i in batch)
        if packed is None:
            return None
        try:
            rows: list[Any] = await driver.fetch(self._call.many, packed)
        except asyncpg.PostgresError as exc:
            if driver.is_closed() or not self._alone_may_help(exc):
                raise
            return None
        return rows


def _give_up(item: _Item) -> None:
    """The request of `item` was cancelled: never send it (again), and let its outcome, if
    it was in a call, go unread without a warning."""
    item.given_up = True
    if item.sent:
        item.answer.add_done_callback(_unread)
    else:
        item.answer.cancel()


def _unread(answer: asyncio.Future[Any]) -> None:
    if not answer.cancelled():
        answer.exception()


async def _alone(driver: Any, statement: str, item: _Item) -> None:
    try:
        row = await driver.fetchrow(statement, *item.args)
    except asyncpg.PostgresError as exc:
        if not item.answer.done():
            item.answer.set_exception(exc)
        if driver.is_closed():
            raise  # the connection is dropped (`KeptConnections.lend`)
        return
    _settle(item, row)


def _settle(item: _Item, row: Any) -> None:
    if not item.answer.done():
        item.answer.set_result(row)
