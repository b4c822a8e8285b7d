"""Ranking metrics of a recommender: Recall@K and NDCG@K on held-out users' held-out items.

Liang et al. 2018's protocol: each held-out user shows the model 80% of their items; the
model scores every item, the items shown are removed from the ranking, and the top K are
compared with the 20% it did not see:

- Recall@K = hits in the top K / min(K, held-out items): 1 when the top K holds as many of
  them as it can (the paper's normalisation, not the usual division by all held-out items);
- NDCG@K = sum over the top K of hit / log2(rank + 1), divided by the same sum for a perfect
  ranking of min(K, held-out items) hits.
"""

from __future__ import annotations

import math

import torch

from aekit.data.batches import iterate
from aekit.data.interactions import Interactions
from aekit.data.splits import Split
from aekit.models.base import Autoencoder

CUTOFFS = {"recall": (20, 50), "ndcg": (100,)}  # the paper's table
BATCH = 1024


@torch.no_grad()
def item_scores(model: Autoencoder, shown: torch.Tensor) -> torch.Tensor:
    """Every item's score for users who interacted with ``shown``; those items get -inf so
    they are never recommended again."""
    model.eval()
    device = next(model.parameters()).device
    out: torch.Tensor = model(shown.to(device))
    logits = out.flatten(1).float().cpu()
    return logits.masked_fill(shown.flatten(1) > 0, -math.inf)


def has_heldout_items(split: Split) -> bool:
    """Whether ``split`` holds held-out users of interaction data (what these metrics need)."""
    return getattr(split.stored, "heldout", None) is not None


def ranking_metrics(model: Autoencoder, split: Split, train: Split) -> dict[str, float]:
    """Mean Recall@20, Recall@50 and NDCG@100 over the held-out users of ``split``, the same
    for the most popular training items (the baseline every recommender must beat), and how
    many users they were measured on."""
    assert isinstance(train.stored, Interactions) and train.index is not None, (
        "interaction splits hold a sparse matrix's rows"
    )
    assert isinstance(split.stored, Interactions) and split.index is not None, (
        "interaction splits hold a sparse matrix's rows"
    )
    popularity = torch.zeros(train.shape[0], dtype=torch.float64)
    for (positions,) in iterate((torch.arange(len(train)),), BATCH):
        popularity += train.stored.index_select(0, train.index[positions]).sum(0)
    totals: dict[str, float] = {}
    users = 0
    for (positions,) in iterate((torch.arange(len(split)),), BATCH):
        index = split.index[positions]
        shown = split.stored.index_select(0, index)
        wanted = split.stored.heldout_rows(index) > 0
        popular = popularity.float().expand_as(shown).masked_fill(shown > 0, -math.inf)
        for prefix, scores in (("", item_scores(model, shown)), ("popularity_", popular)):
            for name, value in ranked_hits(scores, wanted).items():
                totals[prefix + name] = totals.get(prefix + name, 0.0) + value
        users += int(wanted.any(1).sum())
    return {name: total / users for name, total in totals.items()} | {"ranked_users": users}


def ranked_hits(scores: torch.Tensor, wanted: torch.Tensor) -> dict[str, float]:
    """Sums over users (those with any wanted item) of Recall@K and NDCG@K."""
    keep = wanted.any(1)
    scores, wanted = scores[keep], wanted[keep]
    depth = min(max(k for ks in CUTOFFS.values() for k in ks), scores.shape[1])
    top = scores.topk(depth, dim=1).indices
    hits = wanted.gather(1, top).double()
    relevant = wanted.sum(1).double()
    discounts = 1.0 / torch.log2(torch.arange(2, depth + 2, dtype=torch.float64))
    sums = {}
    for k in CUTOFFS["recall"]:
        reach = min(k, depth)
        sums[f"recall@{k}"] = (hits[:, :reach].sum(1) / relevant.clamp(max=reach)).sum().item()
    for k in CUTOFFS["ndcg"]:
        reach = min(k, depth)
        dcg = (hits[:, :reach] * discounts[:reach]).sum(1)
        ideal = torch.cumsum(discounts[:reach], 0)[(relevant.clamp(max=reach) - 1).long()]
        sums[f"ndcg@{k}"] = (dcg / ideal).sum().item()
    return sums
