"""``mde-pyg export RUN_DIR --out DIR``: a finished run's final embeddings."""

from __future__ import annotations

import argparse

from mde_pyg.cli.options import IDS_NOTE, device_option
from mde_pyg.pipeline import export_embeddings, load_run


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="mde-pyg export",
        description="Write the final embeddings of a finished run's best "
        "checkpoint: DIR/user_embeddings.npy and DIR/item_embeddings.npy (row i "
        "is id i; items are scored by the dot product) and DIR/ids.json. " + IDS_NOTE,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    args = parser.parse_args(argv)
    model, data, _ = load_run(args.run_dir, device_option(args.device))
    paths = export_embeddings(model, data, args.out)
    print(
        f"{args.out}: {model.num_users} users and {model.num_items} items "
        f"({', '.join(path.name for path in paths)})"
    )
