"""Comparing GeoPackages, shared by the tests of the vector writers."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def gpkg_dump(path: Path) -> list:
    """Schema and every row of every table of a GeoPackage, but its write times."""
    with sqlite3.connect(path) as con:
        names = [n for (n,) in con.execute("select name from sqlite_master where type='table'")]
        dump: list = sorted(con.execute("select type, name, sql from sqlite_master"))
        for name in sorted(names):
            rows = con.execute(f'select * from "{name}"').fetchall()
            if name == "gpkg_contents":
                rows = [r[:4] + r[5:] for r in rows]  # column 5: last_change
            dump.append((name, rows))
    return dump
