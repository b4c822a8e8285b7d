"""Recommendation: interaction data, the multinomial likelihood, ranking metrics, mult-vae /
mult-dae end to end, and ``aekit recommend``."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from scipy import sparse

from aekit.data.interactions import HELDOUT_SHARE, MIN_USER_ITEMS, split_users
from aekit.data.sources import load_source
from aekit.errors import AekitError
from aekit.evaluation.recommendation import ranked_hits
from aekit.models import build_model
from aekit.workflow import train

from .conftest import quick_config
from .test_apps_cli import run_cli

GROUP_ITEMS = 20  # group A likes items 0..19, group B items 20..39


def _two_taste_csv(path, users: int = 400, seed: int = 0):
    """Users of two tastes, each rating 8 items of their group's 20 (4 or 5 stars) and 2 of
    the other group's badly (1 star: not positives)."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,rating"]
    for user in range(users):
        own = GROUP_ITEMS * (user % 2)
        for item in rng.choice(GROUP_ITEMS, 8, replace=False) + own:
            lines.append(f"u{user},{item},{rng.choice([4, 5])}")
        for item in rng.choice(GROUP_ITEMS, 2, replace=False) + GROUP_ITEMS - own:
            lines.append(f"u{user},{item},1")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ranking_metrics_on_a_case_worked_by_hand():
    scores = torch.tensor([[0.8, 0.3, 0.9, 0.1, 0.5]])  # ranking: items 2, 0, 4, 1, 3
    wanted = torch.tensor([[True, False, False, True, False]])  # hits at ranks 2 and 5
    sums = ranked_hits(scores, wanted)
    assert sums["recall@20"] == 1.0  # both found within the top 20 (of 5)
    ideal = 1 + 1 / math.log2(3)
    assert sums["ndcg@100"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / ideal)
    many = torch.zeros(1, 60, dtype=torch.bool)
    many[0, :30] = True  # 30 wanted items ranked first: Recall@20 divides by min(20, 30)
    perfect = ranked_hits(-torch.arange(60.0)[None], many)
    assert perfect["recall@20"] == 1.0 and perfect["ndcg@100"] == pytest.approx(1.0)
    assert ranked_hits(torch.arange(60.0)[None], many)["recall@20"] == 0.0  # worst ranking


def test_the_multinomial_likelihood_is_a_softmax_over_items():
    model = build_model({"name": "mult-vae", "hidden": [8], "latent_dim": 2}, (6,))
    logits = torch.randn(3, 6)
    counts = torch.tensor([[1.0, 0, 2, 0, 0, 1], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]])
    expected = (counts * torch.log_softmax(logits, 1)).sum(1)
    assert torch.allclose(model.log_likelihood(logits, counts), expected)
    assert torch.allclose(model.log_likelihood(logits + 7.0, counts), expected, atol=1e-5)
    assert torch.allclose(model.to_data(logits).sum(1), torch.ones(3))


def test_interaction_files_keep_positives_of_active_users(tmp_path):
    rows = ["user,movieId,rating"] + [f"a,{i},4" for i in range(5)] + ["a,9,3.5"]
    rows += [f"b,{i},5" for i in range(4)] + ["c,1,4", "c,1,4"] + [f"c,{i},4.5" for i in (2, 3, 4)]
    rows += ["c,7,4"]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    stored = load_source(str(path)).x_train
    assert stored.matrix.shape[0] == 2  # b has 4 positives: fewer than MIN_USER_ITEMS
    assert MIN_USER_ITEMS == 5 and stored.matrix.nnz == 10  # c's duplicate counts once
    assert "9" not in stored.item_ids  # 3.5 stars is not a positive
    matrix = sparse.random(50, 30, density=0.3, format="csr", random_state=0)
    sparse.save_npz(tmp_path / "m.npz", matrix)
    active = int((matrix.getnnz(1) >= MIN_USER_ITEMS).sum())
    assert 0 < active < 50  # a user of fewer than 5 is dropped here too
    assert load_source(str(tmp_path / "m.npz")).x_train.matrix.shape[0] == active


def test_parquet_is_read_or_says_what_it_needs(tmp_path):
    import pandas as pd

    path = tmp_path / "r.parquet"
    frame = pd.DataFrame({"user": [1] * 5, "item": range(5)})
    if importlib.util.find_spec("pyarrow") is None:
        path.write_bytes(b"PAR1")
        with pytest.raises(AekitError, match="pyarrow"):
            load_source(str(path))
        return
    frame.to_parquet(path)
    assert load_source(str(path)).x_train.matrix.nnz == 5


def test_held_out_users_show_80_percent_and_hide_the_rest(tmp_path):
    everyone = load_source(str(_two_taste_csv(tmp_path / "r.csv"))).x_train
    train_part, val, test = split_users(everyone, 0.1, 0.1, seed=3)
    assert len(train_part) + len(val) + len(test) == len(everyone)
    assert len(val) == len(test) == 40
    for part in (val, test):
        shown, hidden = part.matrix, part.heldout
        assert shown.multiply(hidden).nnz == 0  # an item is shown or hidden, never both
        per_user = np.asarray(hidden.sum(1)).ravel()
        total = per_user + np.asarray(shown.sum(1)).ravel()
        assert (per_user >= 1).all()
        assert np.allclose(per_user, np.maximum(1, np.round(HELDOUT_SHARE * total)))
    again = split_users(everyone, 0.1, 0.1, seed=3)[2]
    assert (again.heldout != test.heldout).nnz == 0  # the same seed, the same split


@pytest.fixture(scope="module")
def taste_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recommend")
    data = _two_taste_csv(folder / "ratings.csv")
    config = quick_config(
        model={"name": "mult-vae", "hidden": [32], "latent_dim": 4},
        data={"dataset": str(data), "limit": None},
        train={"epochs": 40, "batch_size": 32},
    )
    train(config, folder / "run", figures=False)
    return folder / "run"


def test_mult_vae_beats_popularity_and_recommends_the_users_taste(taste_run, capsys, tmp_path):
    code, out, _ = run_cli(["evaluate", taste_run, "--json"], capsys)
    assert code == 0
    metrics = json.loads(out)
    assert metrics["ranked_users"] == 40
    assert metrics["recall@20"] > metrics["popularity_recall@20"] + 0.2
    assert metrics["ndcg@100"] > metrics["popularity_ndcg@100"]

    history = tmp_path / "liked.txt"
    history.write_text("0\n1\n2\n3\n")  # group A's taste
    code, out, _ = run_cli(
        ["recommend", taste_run, "--user-history", history, "-k", "5", "--json"], capsys
    )
    found = json.loads(out)["recommendations"]
    assert code == 0 and [r["rank"] for r in found] == [1, 2, 3, 4, 5]
    assert all(int(r["item"]) < GROUP_ITEMS and int(r["item"]) > 3 for r in found)

    users = tmp_path / "users.csv"
    users.write_text("user,item\nann,0\nann,1\nbob,30\nbob,31\n")
    out_file = tmp_path / "top.csv"
    code, _, _ = run_cli(
        ["recommend", taste_run, "--user-history", users, "--out", out_file], capsys
    )
    rows = out_file.read_text().splitlines()
    assert code == 0 and rows[0] == "user,rank,item,score" and len(rows) == 1 + 2 * 20
    bob = [int(r.split(",")[2]) for r in rows[1:] if r.startswith("bob")][:5]
    assert all(item >= GROUP_ITEMS for item in bob)


def test_recommend_mistakes_are_one_line(taste_run, capsys, tmp_path):
    unknown, empty = tmp_path / "unknown.txt", tmp_path / "empty.txt"
    unknown.write_text("0\n999\n")
    empty.write_text("")
    for history, message in [(unknown, "not trained on: 999"), (empty, "no history")]:
        code, _, err = run_cli(["recommend", taste_run, "--user-history", history], capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_interaction_files_as_inputs_of_a_command_are_one_line(taste_run, capsys, tmp_path):
    """``--input`` takes examples; a file of interactions was a numpy traceback."""
    ratings = _two_taste_csv(tmp_path / "more.csv", users=20)
    code, _, err = run_cli(["encode", taste_run, "--input", ratings, "--out", "c.npy"], capsys)
    assert code == 1 and "interaction data" in err and len(err.strip().splitlines()) == 1


def test_mult_dae_trains_on_interactions(tmp_path):
    data = _two_taste_csv(tmp_path / "ratings.csv", users=120)
    config = quick_config(
        model={"name": "mult-dae", "hidden": [16], "latent_dim": 4},
        data={"dataset": str(data), "limit": None},
        train={"epochs": 3},
    )
    run = train(config, tmp_path / "dae")
    assert run.history[-1]["val_loss"] < run.history[0]["val_loss"]
    assert sorted(p.name for p in run.figures.iterdir()) == ["curves.png"]
