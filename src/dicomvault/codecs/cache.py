"""A bounded, thread-safe cache of decoded and transcoded bytes served on retrieve.

A viewer that scrolls a series, or two clients fetching the same study, ask
for the same decoded frames and transcoded instances again and again;
decoding a JPEG-LS or JPEG 2000 frame costs far more than a lookup. The
cache keeps whole results (a transcoded instance, a native frame) up to
``transcode_cache_bytes`` in total and evicts the least recently used
first. Keys name the stored object (its random blob name, never a UID), so
a replaced or deleted blob's entries are simply never asked for again.

It lives in the process's memory only, like the decrypted bytes it is made
from, and is reached only after the request was authorised and recorded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ByteCache:
    """Least-recently-used cache of ``bytes`` values bounded by their total size."""

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError("cache capacity must not be negative")
        self.capacity_bytes = capacity_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Keep ``value`` unless it alone exceeds the capacity; evict the oldest to make room."""
        if len(value) > self.capacity_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._entries[key] = value
            self._size += len(value)
            while self._size > self.capacity_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The cached value, or ``make()`` kept for next time (two racing makers both make)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value
