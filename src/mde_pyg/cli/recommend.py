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
from mde_pyg.pipeline import (
    format_recommendations,
    load_run,
    output_format,
    raw_ids,
    write_recommendations,
)


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


def user_tokens(text: str, source: str = "users") -> list[str]:
    """User ids as text, separated by commas and/or whitespace; ``#`` starts
    a comment that runs to the end of the line.

    Raises:
        ValueError: naming :obj:`source` if there is no id at all.
    """
    tokens = re.split(r"[\s,]+", re.sub(r"#[^\n]*", "", text).strip())
    tokens = [token for token in tokens if token]
    if not tokens:
        raise ValueError(f"{source}: no user ids given")
    return tokens


def raw_user_index(tokens: list[str], user_ids: list[str], source: str) -> list[int]:
    """The internal ids of raw user ids ``tokens`` (``user_ids[i]`` is the
    raw id of user ``i``).

    Raises:
        ValueError: naming :obj:`source` and the first unknown raw id.
    """
    index = {raw: i for i, raw in enumerate(user_ids)}
    unknown = [token for token in tokens if token not in index]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ValueError(
            f"{source}: unknown raw user id {unknown[0]!r}{more}: the run's "
            f"dataset maps {len(user_ids)} raw user ids (u_id_mapping.csv)"
        )
    return [index[token] for token in tokens]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mde-pyg recommend",
        description="Recommend items with the best checkpoint of a finished run: "
        "the exact full ranking by dot product of the final embeddings, without "
        "each user's training items, ties broken by the lower item id. " + IDS_NOTE,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a `mde-pyg train` run")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--users",
        help="user ids, comma-separated: 0,5,7 (raw user ids when the dataset "
        "has ID maps, internal ids otherwise)",
    )
    who.add_argument(
        "--users-file",
        metavar="F",
        help="file of user ids (raw or internal, as --users), separated by "
        "commas or whitespace ('#' comments)",
    )
    who.add_argument("--all", action="store_true", help="every user")
    parser.add_argument("--k", type=int, default=10, help="items per user (10)")
    parser.add_argument(
        "--out",
        default="-",
        help="- (default): a table on standard output; recs.csv: "
        "user,rank,item,score rows; recs.jsonl: one "
        '{"user", "items", "scores"} object per user; recs.parquet: the csv '
        "rows (needs pandas and pyarrow). With ID maps, raw_user and raw_item "
        "columns (raw_user, raw_items keys) stand beside the internal ids. A "
        "user with fewer than k unseen items gets fewer.",
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
    to_stdout = args.out == "-"
    try:
        if not to_stdout:
            output_format(args.out)
        if args.k <= 0:
            raise ValueError(f"--k must be a positive integer (got {args.k})")
        if not args.all:
            text = args.users
            if args.users_file is not None:
                text = Path(args.users_file).read_text()
            tokens = user_tokens(text, source)
    except (ImportError, ValueError) as error:
        raise ConfigError(str(error)) from None
    model, data, _ = load_run(args.run_dir, device_option(args.device))
    user_ids, item_ids = raw_ids(data, "user"), raw_ids(data, "item")
    if args.all:
        users = torch.arange(model.num_users, device="cpu")
    else:
        try:
            if user_ids is not None:
                users = raw_user_index(tokens, user_ids, source)
            else:
                users = parse_user_ids(" ".join(tokens), source)
            users = check_users(users, model.num_users)
        except ValueError as error:
            message = str(error)
            if not message.startswith(f"{source}:"):
                message = f"{source}: {message}"
            raise ConfigError(message) from None

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
    if to_stdout:
        print(format_recommendations(users, items, scores, user_ids, item_ids))
        return
    rows = write_recommendations(args.out, users, items, scores, user_ids, item_ids)
    kind = "internal ids" if item_ids is None else "internal and raw ids"
    print(
        f"{args.out}: {rows} recommendations for {users.numel()} users "
        f"(top {args.k}, {kind})"
    )
