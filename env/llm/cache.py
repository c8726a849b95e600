"""On-disk cache of endpoint answers (sqlite), so rerunning a judgement or a generation sends no requests.

Keys are sha256 hashes chosen by the caller (the judges: transcript, rubric version, model and vote
index); callers store only answers that parsed in their format.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

FILE_NAME = "answers.sqlite3"


def cache_key(transcript: str, rubric_version: str, model: str, sample_index: int) -> str:
    """sha256 (hex) identifying one answer: sample `sample_index` of `model` on `transcript` under the
    prompt version `rubric_version`."""
    payload = json.dumps([transcript, rubric_version, model, sample_index], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class AnswerCache:
    """Answers by `cache_key`, in `path_dir/answers.sqlite3` (WAL mode, so several processes may share it).

    One connection guarded by a lock: safe from an event-loop thread and any other thread. Pickles as
    its directory and reopens where it is unpickled.
    """

    def __init__(self, path_dir: str | os.PathLike[str]) -> None:
        self.path_dir = path_dir
        self.path = Path(path_dir).expanduser() / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = self._connect()

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path_dir": self.path_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path_dir"])  # type: ignore[misc]

    def __len__(self) -> int:
        with self._lock:
            return self._conn().execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def get(self, key: str) -> str | None:
        """The stored answer, or None."""
        with self._lock:
            row = self._conn().execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, answer: str) -> None:
        """Store (or replace) an answer. Callers store only answers that parsed."""
        with self._lock:
            db = self._conn()
            db.execute("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)", (key, answer))
            db.commit()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # losing the last answers in a crash only costs requests
        db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        db.commit()
        self._pid = os.getpid()
        return db

    def _conn(self) -> sqlite3.Connection:
        """The connection, reopened in a forked child (sqlite connections must not cross a fork)."""
        if self._pid != os.getpid():
            self._db = self._connect()
        return self._db
