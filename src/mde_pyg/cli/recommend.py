"""``mde-pyg recommend RUN_DIR``: top-k items per user from a finished run."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from mde_pyg.cli.options import IDS_NOTE, device_option
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.errors import ConfigError
from mde_pyg.evaluation.retrieval import (
    RETRIEVAL_METHODS,
    check_users,
    recommend_from_embeddings,
)
from mde_pyg.pipeline import load_run, output_format, write_recommendations


def parse_user_ids(text: str, source: str = "users") -> list[int]:
    """Integer user ids separated by commas and/or whitespace; ``#`` starts a
    comment that runs to the end of the line.

    Raises:
        ValueError: naming :obj:`source` and the first token that is not an
            integer, or if there is no id at all.
    """
    tokens = re.split(r"[\s,]+", re.sub(r"#[^\n]*", "", text).strip())
    tokens = [token for token in tokens if token]
    if not tokens:
        raise ValueError(f"{source}: no user ids given")
    ids = []
    for token in tokens:
        try:
            ids.append(int(token))
        except ValueError:
            raise ValueError(f"{source}: {token!r} is not an integer user id") from None
    return ids


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mde-pyg recommend",
        description="Recommend items with the best checkpoint of a finished run: "
        "the exact full ranking by dot product of the final embeddings, without "
        "each user's training items, ties broken by the lower item id. " + IDS_NOTE,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="internal user ids, comma-separated: 0,5,7")
    who.add_argument(
        "--users-file",
        metavar="F",
        help="file of internal user ids, separated by commas or whitespace "
        "('#' comments)",
    )
    who.add_argument("--all", action="store_true", help="every user")
    parser.add_argument("--k", type=int, default=10, help="items per user (10)")
    parser.add_argument(
        "--out",
        required=True,
        help="recs.csv: user,rank,item,score rows; recs.jsonl: one "
        '{"user", "items", "scores"} object per user; recs.parquet: the csv '
        "rows (needs pandas and pyarrow). A user with fewer than k unseen "
        "items gets fewer.",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument(
        "--method",
        default="auto",
        choices=RETRIEVAL_METHODS,
        help="dense: score every item; mips: search a faiss inner-product index "
        "(exact, needs faiss); auto (default): mips for large catalogues when "
        "faiss is installed. Both give the same lists.",
    )
    return parser


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    source = "--users" if args.users is not None else args.users_file
    try:
        output_format(args.out)
        if args.k <= 0:
            raise ValueError(f"--k must be a positive integer (got {args.k})")
        if not args.all:
            text = args.users
            if args.users_file is not None:
                text = Path(args.users_file).read_text()
            users = parse_user_ids(text, source)
    except (ImportError, ValueError) as error:
        raise ConfigError(str(error)) from None
    model, data, _ = load_run(args.run_dir, device_option(args.device))
    if args.all:
        users = torch.arange(model.num_users, device="cpu")
    else:
        try:
            users = check_users(users, model.num_users)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None

    def progress(done: int, total: int) -> None:
        print(f"\rrecommend: {done}/{total} users", end="", file=sys.stderr)

    show_progress = args.all and sys.stderr.isatty()
    user_emb, item_emb = model.embeddings(data)
    try:
        items, scores = recommend_from_embeddings(
            user_emb,
            item_emb,
            users,
            k=args.k,
            exclude_index=split_edge_index(data, "train"),
            progress=progress if show_progress else None,
            method=args.method,
        )
    except ImportError as error:  # --method mips without faiss
        raise ConfigError(str(error)) from None
    if show_progress:
        print(file=sys.stderr)
    rows = write_recommendations(args.out, users, items, scores)
    print(
        f"{args.out}: {rows} recommendations for {users.numel()} users "
        f"(top {args.k}, internal ids)"
    )
