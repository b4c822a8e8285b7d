"""Implicit feedback: who interacted with what, kept as a sparse user x item matrix.

A source of interactions is a CSV (comma or tab separated) whose header names a user and an
item column (``user``/``userId``..., ``item``/``movieId``/``song``...) and optionally a
``rating``; a parquet file of the same (needs pandas and pyarrow); a scipy.sparse matrix
saved with ``scipy.sparse.save_npz`` (users in rows, any non-zero an interaction); or one of
the named MovieLens sets. It stays sparse: the trainer densifies one batch of users at a time.

The preparation is that of Liang et al. 2018 ("Variational Autoencoders for Collaborative
Filtering", WWW), whose metrics :mod:`aekit.evaluation.recommendation` computes:

- with ratings, those >= 4 are the positives (their "> 3.5" on ML-20M's half stars);
- users with at least 5 positives are kept;
- held-out users (``val_fraction`` and ``test_fraction`` of them, drawn with ``split_seed``)
  have their positives split 80/20 at random: the model sees the 80% ("fold-in") and must
  rank the 20% it did not see;
- items that no training user has are dropped (a model cannot score an item it never saw).

Where aekit differs: the paper holds out 10,000 users each for validation and test on ML-20M;
aekit holds out fractions (10% each by default: 13,849 on ML-20M).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.errors import AekitError

if TYPE_CHECKING:
    from scipy import sparse

POSITIVE_RATING = 4.0
MIN_USER_ITEMS = 5
HELDOUT_SHARE = 0.2
USER_COLUMN = re.compile(r"^(user|customer|listener|reader|visitor)(_?id)?$", re.I)
ITEM_COLUMN = re.compile(r"^(item|movie|product|song|track|artist|book|video)(_?id)?$", re.I)
RATING_COLUMN = re.compile(r"^(rating|score|stars|count|plays)$", re.I)


class Interactions:
    """Rows of a sparse 0/1 user x item matrix, handed out dense a batch at a time: what a
    :class:`~aekit.data.splits.Split` of interaction data stores (as ``ImageFiles`` for a
    streamed folder, it offers ``shape``, ``dtype``, ``device`` and ``index_select``).
    ``item_ids`` names each column; ``heldout`` holds, for held-out users, the items they
    must be recommended (same rows; None for training users)."""

    dtype = torch.float32
    device = torch.device("cpu")
    workers = 0

    def __init__(
        self,
        matrix: sparse.csr_matrix,
        item_ids: np.ndarray,
        heldout: sparse.csr_matrix | None = None,
    ) -> None:
        self.matrix, self.item_ids, self.heldout = matrix.tocsr(), item_ids, heldout

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.matrix.shape)

    def index_select(self, dim: int, rows: torch.Tensor) -> torch.Tensor:
        return _dense(self.matrix, rows)

    def heldout_rows(self, rows: torch.Tensor) -> torch.Tensor:
        if self.heldout is None:
            raise AekitError("these users have no held-out items (they are training users)")
        return _dense(self.heldout, rows)


def _dense(matrix: sparse.csr_matrix, rows: torch.Tensor) -> torch.Tensor:
    picked = matrix[rows.cpu().numpy()].toarray()
    return torch.from_numpy(np.ascontiguousarray(picked, dtype=np.float32))


@dataclass
class InteractionTable:
    """Interactions as parallel arrays (one entry per user-item pair), before preparation."""

    users: np.ndarray  # any hashable ids
    items: np.ndarray
    ratings: np.ndarray | None = None


def positives(table: InteractionTable, source: str) -> Interactions:
    """The users with at least 5 positives, as a sparse 0/1 matrix with each column's item."""
    from scipy import sparse

    keep = np.ones(len(table.users), bool)
    if table.ratings is not None:
        keep = table.ratings >= POSITIVE_RATING
    users, items = table.users[keep], table.items[keep]
    if not len(users):
        raise AekitError(f"{source}: no positive interactions (ratings >= {POSITIVE_RATING:g})")
    user_codes = np.unique(users, return_inverse=True)[1]
    item_ids, item_codes = np.unique(items, return_inverse=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(users), np.float32), (user_codes, item_codes)),
        shape=(int(user_codes.max()) + 1, len(item_ids)),
    )
    matrix.data[:] = 1.0  # a pair listed twice is still one interaction
    active = np.asarray(matrix.sum(1)).ravel() >= MIN_USER_ITEMS
    if not active.any():
        raise AekitError(f"{source}: no user has {MIN_USER_ITEMS} or more positive interactions")
    return Interactions(matrix[active], item_ids.astype(str))


def split_users(
    everyone: Interactions,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    limit: int | None = None,
) -> tuple[Interactions, Interactions, Interactions]:
    """Training, validation and test users (see the module): held-out users' positives split
    80/20 into what the model sees and what it must recommend, on the items training users
    have (the first ``limit`` training users only, if given)."""
    matrix, item_ids = everyone.matrix, everyone.item_ids
    rng = np.random.default_rng(seed)
    order = rng.permutation(matrix.shape[0])
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    test_rows, val_rows, train_rows = np.split(order, [n_test, n_test + n_val])
    train_rows = train_rows[:limit]
    if not (len(train_rows) and len(val_rows) and len(test_rows)):
        raise AekitError(
            f"{matrix.shape[0]} users are too few to hold out val_fraction {val_fraction} and "
            f"test_fraction {test_fraction} of them"
        )
    train = matrix[np.sort(train_rows)]
    seen = np.asarray(train.sum(0)).ravel() > 0
    columns, ids = np.flatnonzero(seen), item_ids[seen]
    held = [_fold_in(matrix[np.sort(rows)][:, columns], rng) for rows in (val_rows, test_rows)]
    parts = [Interactions(train[:, columns], ids)]
    parts += [Interactions(shown, ids, hidden) for shown, hidden in held]
    return parts[0], parts[1], parts[2]


def _fold_in(
    matrix: sparse.csr_matrix, rng: np.random.Generator
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Each row's non-zeros split at random: 80% kept, 20% (at least one) held out."""
    from scipy import sparse

    matrix = matrix.tocsr()
    hidden = np.zeros(matrix.nnz, bool)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        count = end - start
        if count >= 2:
            chosen = rng.choice(count, max(1, round(HELDOUT_SHARE * count)), replace=False)
            hidden[start + chosen] = True
    coo = matrix.tocoo()
    shape = matrix.shape

    def part(mask: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=shape)

    return part(~hidden), part(hidden)


# -- reading files ---------------------------------------------------------------------------
def interaction_columns(header: list[str] | None) -> tuple[int, int, int | None] | None:
    """Where the user, item and rating columns are in a CSV header; None if it names no user
    and item column (then the file is a table of features)."""
    if not header:
        return None
    user = _column(header, USER_COLUMN)
    item = _column(header, ITEM_COLUMN)
    if user is None or item is None:
        return None
    return user, item, _column(header, RATING_COLUMN)


def _column(header: list[str], pattern: re.Pattern[str]) -> int | None:
    found = [i for i, name in enumerate(header) if pattern.match(name.strip())]
    return found[0] if found else None


def read_interaction_csv(path: Path, columns: tuple[int, int, int | None]) -> InteractionTable:
    """The user, item and rating columns of a CSV (comma or tab separated, with a header):
    parsed as numbers in one pass where they are numbers, else as text."""
    delimiter = csv_delimiter(path)
    user, item, rating = columns
    wanted = [user, item] + ([rating] if rating is not None else [])
    try:
        numbers = np.loadtxt(
            path, delimiter=delimiter, skiprows=1, usecols=wanted, ndmin=2, encoding="utf-8-sig"
        )
    except ValueError:
        return _text_csv(path, delimiter, wanted, rating)
    if not len(numbers):
        raise AekitError(f"{path}: no interactions after the header")
    ratings = numbers[:, 2] if rating is not None else None
    return InteractionTable(numbers[:, 0], _ids(numbers[:, 1]), ratings)


def _text_csv(
    path: Path, delimiter: str, wanted: list[int], rating: int | None
) -> InteractionTable:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        next(rows, None)
        try:
            cells = [[row[i] for i in wanted] for row in rows if row]
        except IndexError:
            raise AekitError(f"{path}: a row has fewer columns than the header") from None
    if not cells:
        raise AekitError(f"{path}: no interactions after the header")
    table = np.array(cells, dtype=str)
    ratings = None
    if rating is not None:
        try:
            ratings = table[:, 2].astype(np.float64)
        except ValueError:
            raise AekitError(f"{path}: the {rating + 1}th column holds non-numbers") from None
    return InteractionTable(table[:, 0], _ids(table[:, 1]), ratings)


def csv_delimiter(path: Path) -> str:
    """Tab when the first line has more tabs than commas, else comma."""
    with path.open(encoding="utf-8-sig") as handle:
        first = handle.readline()
    return "\t" if first.count("\t") > first.count(",") else ","


def _ids(values: np.ndarray) -> np.ndarray:
    """Item ids as text, numbers written the same way however the file wrote them (7, 7.0)."""
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        return np.char.strip(values.astype(str))
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64).astype(str)
    return values.astype(str)


def item_ids(values: Sequence[str]) -> np.ndarray:
    """Item ids a user gives (a history file) written as the data's own are."""
    return _ids(np.asarray(values, dtype=str))


def read_parquet(path: Path) -> InteractionTable:
    try:
        import pandas as pd
    except ImportError:
        raise AekitError(
            f"{path}: reading parquet needs pandas and pyarrow (pip install pandas pyarrow)"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise AekitError(f"{path}: {exc}") from None
    columns = interaction_columns([str(c) for c in frame.columns])
    if columns is None:
        raise AekitError(f"{path}: no user and item columns among {list(frame.columns)}")
    user, item, rating = columns
    ratings = None if rating is None else frame.iloc[:, rating].to_numpy(np.float64)
    return InteractionTable(
        frame.iloc[:, user].to_numpy(), _ids(frame.iloc[:, item].to_numpy()), ratings
    )


def is_sparse_npz(arrays: dict[str, np.ndarray]) -> bool:
    """Whether the arrays of an .npz file are a scipy.sparse matrix (``save_npz``)."""
    return {"format", "shape", "data", "indices"} <= set(arrays)


def read_sparse_npz(path: Path) -> InteractionTable:
    from scipy import sparse

    try:
        # scipy-stubs: mypy cannot bind tocoo's self type on load_npz's union of formats
        matrix = sparse.load_npz(path).tocoo()  # type: ignore[misc]
    except (OSError, ValueError) as exc:
        raise AekitError(f"{path}: not a readable scipy.sparse matrix ({exc})") from None
    nonzero = matrix.data != 0
    items = np.arange(matrix.shape[1]).astype(str)
    return InteractionTable(matrix.row[nonzero], items[matrix.col[nonzero]])
