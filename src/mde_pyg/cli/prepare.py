"""``mde-pyg prepare NAME ...``: build a real dataset by name."""

from __future__ import annotations

from mde_pyg.data.prepare import prepare_main


def main(argv: list[str]) -> None:
    prepare_main(argv)
