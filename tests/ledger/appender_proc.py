"""A separate writer process for crash and concurrency tests.

``python -m tests.ledger.appender_proc URL WRITER BATCHES BATCH_SIZE`` appends batches of
drafts and prints ``acked SIZE`` after each commit returns (that is the acknowledgement).
"""

from __future__ import annotations

import sys

from ledger.sql import SqlStore
from tests.ledger.conftest import draft, make_log


def main(argv: list[str]) -> None:
    url, writer, batches, batch_size = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    store = SqlStore(url)
    log = make_log(store)
    for b in range(batches):
        base = writer * 10_000_000 + b * batch_size
        appended = log.append([draft(base + i) for i in range(batch_size)])
        print(f"acked {appended.first_index} {appended.size} {base}", flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
