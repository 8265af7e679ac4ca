"""Arrays kept in one ``.npz`` file under a key: read back only when the key matches."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger("c2c.cache")


def read_arrays(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays saved at ``path`` under ``key``; None when the file is missing, unreadable or
    holds another key."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return {name: data[name] for name in data.files if name != "key"}
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError) as exc:
        log.info("cache file %s unusable (%s)", path, exc)
        return None


def write_arrays(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` under ``key`` through a temporary file and a rename (a reader sees the old
    file or the new one); a failure is logged, not raised."""
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), **arrays)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getbuffer())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not save %s: %s", path, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
