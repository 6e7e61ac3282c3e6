"""Secrets that ship in the repository are public: production refuses to start with one.

A value counts as shipped when it appears in any text file of the source tree (settings defaults,
the Dockerfile, docs, examples, tests): whoever has the code has it. Checked once, at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "var", "staticfiles", "__pycache__", ".mypy_cache",
                 ".ruff_cache", ".pytest_cache", ".hypothesis", "htmlcov"}  # fmt: skip
_TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".json", ".example", ".env",
                  ".sh", ".html", ".js", ".css", ".in", ""}  # fmt: skip
_MAX_FILE_BYTES = 2_000_000
MIN_SECRET_LENGTH = 12


def _source_files(root: Path) -> Iterable[Path]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in _SKIPPED_DIRS]
        for name in files:
            path = Path(directory) / name
            if path.suffix in _TEXT_SUFFIXES or name.startswith(("Dockerfile", ".env")):
                yield path


def shipped_secrets(root: Path, secrets: dict[str, Iterable[str]]) -> list[str]:
    """The names of the settings among `secrets` (name -> values) that have a value found in the
    source tree under `root`."""
    wanted = {value: name for name, values in secrets.items() for value in values if value}
    found: set[str] = {name for value, name in wanted.items() if len(value) < MIN_SECRET_LENGTH}
    for path in _source_files(root):
        try:
            if path.stat().st_size > _MAX_FILE_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        found |= {name for value, name in wanted.items() if value in text}
        if len(found) == len(set(wanted.values())):
            break
    return sorted(found)
