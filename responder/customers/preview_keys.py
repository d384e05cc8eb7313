"""What a customer-data preview's earlier batches would have added, held as 8-byte hashes.

A dry run rolls each batch back, so it remembers the external ids and identities those batches
would have added (`importer._Earlier`) to count and refuse later rows as the import would. Held
as Python strings in a set and a dict, that took about 500 bytes a new customer (over 100 MB
for a file of 200,000: bench/README.md); held here, as sorted arrays of 64-bit hashes, it is
8 bytes a key and 8 more for its value. Two keys sharing a hash (odds about n² / 2^65, one in
several million for a file of a million customers) would make the preview count one row as
updated or refuse one identity; the import itself never uses this.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.int64]


def hashed(keys: Iterable[str]) -> Hashes:
    """Each key's 64-bit BLAKE2b hash, in order."""
    digests = b"".join(blake2b(key.encode(), digest_size=8).digest() for key in keys)
    return np.frombuffer(digests, dtype="<i8").astype(np.int64)


class HashedKeys:
    """A set of keys by hash, sorted, each with an int64 value when `valued` (the hash of the
    key's owner, say). A batch's keys go in with one `np.insert`, so a file's worth of
    batches costs seconds, not the minutes re-sorting each time would."""

    def __init__(self, *, valued: bool = False) -> None:
        self._keys: Hashes = np.empty(0, dtype=np.int64)
        self._values: Hashes | None = np.empty(0, dtype=np.int64) if valued else None

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + (self._values.nbytes if self._values is not None else 0)

    def _find(self, hashes: Hashes) -> tuple[Hashes, npt.NDArray[np.bool_]]:
        """Where each hash is or would go, and whether it is held."""
        at = np.searchsorted(self._keys, hashes)
        held = np.zeros(len(hashes), dtype=bool)
        inside = at < len(self._keys)
        held[inside] = self._keys[at[inside]] == hashes[inside]
        return at, held

    def held(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        return self._find(hashes)[1]

    def values(self, hashes: Hashes) -> dict[int, int]:
        """The value of each hash held, by position in `hashes`."""
        assert self._values is not None, "a set without values"
        at, held = self._find(hashes)
        return {int(i): int(self._values[at[i]]) for i in np.flatnonzero(held)}

    def add(self, hashes: Hashes, values: Hashes | None = None) -> None:
        """Holds the keys not held yet; a key held already keeps its value."""
        fresh = ~self.held(hashes)
        keys, first = np.unique(hashes[fresh], return_index=True)
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        if self._values is not None:
            assert values is not None, "a value for each key"
            self._values = np.insert(self._values, at, values[fresh][first])
