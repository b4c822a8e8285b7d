"""Recommendations from a trained recommender (``mult-vae``, ``mult-dae``, or any model
trained on interaction data): the top K items a user has not had yet.

A user's history is the list of item ids they interacted with, in the ids of the run's data
(what its training file or MovieLens called them). The model sees it as the 0/1 vector it was
trained on; the items already in it are never recommended.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from aekit.data.interactions import csv_delimiter, interaction_columns, item_ids
from aekit.errors import AekitError
from aekit.evaluation.recommendation import item_scores
from aekit.models.base import Autoencoder

SHOWN_UNKNOWN = 5  # unknown ids named in the error


@dataclass
class Recommendation:
    user: str
    rank: int
    item: str
    score: float  # the model's probability of the item for this user


def read_histories(path: Path) -> dict[str, list[str]]:
    """user -> item ids from a CSV with user and item columns, or one user's item ids, one
    per line (that user is called ``user``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle, delimiter=csv_delimiter(path)) if row]
    except (OSError, UnicodeDecodeError) as exc:
        raise AekitError(f"cannot read the history {path}: {exc}") from None
    columns = interaction_columns([cell.strip() for cell in rows[0]]) if rows else None
    histories: dict[str, list[str]] = {}
    if columns is None:
        items = [row[0].strip() for row in rows if row[0].strip()]
        if items:
            histories["user"] = list(item_ids(items))
    else:
        user, item, _ = columns
        for row in rows[1:]:
            histories.setdefault(row[user].strip(), []).append(row[item])
        histories = {u: list(item_ids(items)) for u, items in histories.items()}
    if not histories:
        raise AekitError(f"{path}: no item ids; a user with no history gets no recommendation")
    return histories


def recommend(
    model: Autoencoder, known_items: list[str], histories: dict[str, list[str]], k: int
) -> list[Recommendation]:
    """The ``k`` best items for each user that are not in their history."""
    column = {item: i for i, item in enumerate(known_items)}
    unknown = sorted({i for items in histories.values() for i in items if i not in column})
    if unknown:
        named = ", ".join(unknown[:SHOWN_UNKNOWN]) + (", ..." if len(unknown) > 5 else "")
        raise AekitError(
            f"{len(unknown)} item id(s) the run was not trained on: {named} (the run knows "
            f"{len(known_items)} items, named as in its training data)"
        )
    users = list(histories)
    shown = torch.zeros(len(users), len(known_items))
    for row, user in enumerate(users):
        shown[row, [column[i] for i in histories[user]]] = 1.0
    probabilities = torch.softmax(item_scores(model, shown.reshape(-1, *model.input_shape)), 1)
    top = probabilities.topk(min(k, len(known_items)), dim=1)
    found = []
    for row, user in enumerate(users):
        for rank, (score, index) in enumerate(zip(top.values[row], top.indices[row]), 1):
            if score > 0:  # an item already in the history has probability 0
                found.append(Recommendation(user, rank, known_items[index], float(score)))
    return found
