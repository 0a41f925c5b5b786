"""Search environments: Gymnasium conformance, search tool, retrieval backends, gold-search oracle."""

from __future__ import annotations

import gymnasium as gym
import pytest
import toys
from gymnasium.utils.env_checker import check_env

import swirl_env  # noqa: F401  (registers the ids)
from swirl_algos.policies.gold_search import GoldSearchPolicy, supporting_title_recall
from swirl_env.envs.qa import SearchQAEnv
from swirl_env.envs.qa.loaders import load_qa_dataset
from swirl_env.metrics.qa import METRIC_NAMES, qa_metrics
from swirl_env.retrieval import Hit, Passage, RankBM25Retriever, RetrievalHTTPError, Retriever, save_corpus
from swirl_env.retrieval.server import RetrievalServer
from swirl_env.tools.search import NO_RESULTS, SearchTool, format_passage

FIX = toys.FIXTURES
KWARGS = {"SwiRL-HotPotQA-v0": {}, "SwiRL-MuSiQue-v0": {}, **toys.ENV_DATA_KWARGS}


@pytest.mark.parametrize("env_id", list(KWARGS))
def test_check_env_all_four(env_id):
    env = gym.make(env_id, **KWARGS[env_id])
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert "<search_query> QUERY </search_query>" in obs and "up to 5 sequential calls" in obs
    assert obs.endswith("Question: " + info["task"]["question"])
    assert env.unwrapped.max_tool_calls == 5 and env.spec.kwargs["dataset"] == env.unwrapped.dataset_name
    env.close()


def test_beerqa_without_data_gives_clear_error(monkeypatch):
    monkeypatch.delenv("SWIRL_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="pass path="):
        gym.make("SwiRL-BeerQA-v0")


@pytest.mark.parametrize("mode", ["sync", "async", "async-spawn"])
def test_vector_envs(mode):
    # "async-spawn": fresh worker processes, each loading the dataset and index itself
    vector_kwargs = {"context": "spawn"} if mode == "async-spawn" else {}
    envs = gym.make_vec(
        "SwiRL-HotPotQA-v0",
        num_envs=2,
        vectorization_mode=mode.split("-")[0],
        vector_kwargs=vector_kwargs,
        n_tasks=4,
    )
    try:
        obs, _ = envs.reset(seed=[0, 1])
        assert all(o.startswith("You are answering") for o in obs)
        obs, _rew, term, trunc, _info = envs.step(
            ["<search_query> VIVA Media </search_query>", "<answer> x </answer>"]
        )
        assert "VIVA Media -> VIVA Media: " in obs[0]
        assert list(term) == [False, True] and list(trunc) == [False, False]
        obs, _, term, *_ = envs.step(
            ["<answer> Gesellschaft mit beschränkter Haftung </answer>", "<answer> y </answer>"]
        )
        assert term[0]
    finally:
        envs.close()


def test_env_copies_share_dataset_and_index():
    a, b = gym.make("SwiRL-MuSiQue-v0").unwrapped, gym.make("SwiRL-MuSiQue-v0", top_k=3).unwrapped
    assert a.retriever is b.retriever and a.dataset is b.dataset and a.tasks is b.tasks
    c = gym.make("SwiRL-MuSiQue-v0", n_tasks=7).unwrapped
    assert len(c.tasks) == 7 and c.retriever is a.retriever  # the corpus stays the whole split's
    assert len(a.retriever) == len(load_qa_dataset("musique", "dev").passages)
    assert "retriever" not in str(gym.spec("SwiRL-MuSiQue-v0").kwargs)  # config only in the spec


def test_search_observation_shape_and_hits():
    env = SearchQAEnv(dataset="hotpotqa", top_k=3, max_passage_chars=120)
    env.reset(options={"task_index": 0})
    _, r, term, trunc, info = env.step("I should look this up. <search_query> VIVA Media AG </search_query>")
    step = info["step"]
    assert (r, term, trunc) == (0.0, False, False) and step["tool_ok"]
    query, result = step["observation"].split(" -> ", 1)
    lines = result.split("\n")
    assert query == "VIVA Media AG" and len(lines) == 3
    hits = step["tool_value"]["hits"]
    assert [set(h) for h in hits] == [{"id", "title", "text", "score"}] * 3
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    for line, h in zip(lines, hits):
        assert len(line) <= 120 and line == format_passage(h["title"], h["text"], 120)
        assert line.startswith(h["title"] + ": ")
    # the hits are the retriever's ranking
    ranked = env.retriever.search("VIVA Media AG", k=3)
    assert [h["id"] for h in hits] == [x.passage.id for x in ranked]


def test_search_errors_are_observations():
    env = SearchQAEnv(dataset="hotpotqa", max_query_chars=50)
    env.reset(seed=0)
    _, _, _, _, info = env.step("<search_query>   </search_query>")  # caught by the parser
    assert (
        info["step"]["kind"] == "malformed"
        and info["step"]["observation"] == "Error: empty <search_query> call"
    )
    assert SearchTool(env.retriever)("  \n ").text == "Error: empty search query"  # the tool's own check
    _, _, _, _, info = env.step("<search_query> " + "word " * 20 + "</search_query>")
    assert "search query too long (99 characters; the limit is 50)" in info["step"]["observation"]
    _, _, _, _, info = env.step("<search_query> zzqxv qqzzv </search_query>")
    assert info["step"]["tool_ok"] and info["step"]["observation"] == f"zzqxv qqzzv -> {NO_RESULTS}"
    assert info["step"]["tool_value"] == {"hits": []}


def test_search_tool_unit_behaviour():
    class Failing(Retriever):
        def search(self, query, k=1):
            raise RetrievalHTTPError("http://x/retrieve: 503 after 3 attempts")

        def __len__(self):
            return 0

    assert SearchTool(Failing())("q").text.startswith("Error: the search service failed")
    with pytest.raises(ValueError, match="top_k"):
        SearchTool(Failing(), top_k=0)
    with pytest.raises(TypeError, match="Retriever"):
        SearchTool(object())  # type: ignore[arg-type]
    text = "word " * 100
    cut = format_passage("T", text, 50)
    assert len(cut) <= 50 and cut.endswith("...") and not cut[:-3].endswith("wor")
    assert format_passage("", "a\nb  c", None) == "a b c"
    assert format_passage("T", "short", 50) == "T: short"

    class Fixed(Retriever):
        def search(self, query, k=1):
            return [Hit(Passage(str(i), f"T{i}", f"text {i}"), 1.0 / (i + 1), i) for i in range(k)]

        def __len__(self):
            return 5

    res = SearchTool(Fixed(), top_k=2)("anything")
    assert res.text == "T0: text 0\nT1: text 1" and [h["id"] for h in res.value["hits"]] == ["0", "1"]


def test_metrics_outcome_and_primary_metric():
    env = SearchQAEnv(dataset="musique", primary_metric="f1")
    _, info = env.reset(options={"task_index": 0})
    gold = info["task"]["answers"]
    _, r, term, _, info = env.step("<answer> Best Performance by a Leading Actress </answer>")
    expected = qa_metrics("Best Performance by a Leading Actress", gold)
    assert term and r == pytest.approx(expected["f1"]) and 0 < r < 1
    assert info["outcome"]["metric"] == "f1" and info["outcome"]["metrics"] == pytest.approx(expected)
    assert set(info["outcome"]["metrics"]) == set(METRIC_NAMES)
    squad = SearchQAEnv(dataset="musique", f1_style="squad2", n_tasks=1)
    squad.reset(options={"task_index": 0})
    assert squad.step("<answer> lead </answer>")[1] == 1.0  # an alias
    with pytest.raises(ValueError, match="primary_metric"):
        SearchQAEnv(dataset="musique", primary_metric="accuracy")
    with pytest.raises(ValueError, match="HotPotQA option"):
        SearchQAEnv(dataset="musique", levels=["hard"])
    with pytest.raises(ValueError, match="unknown dataset"):
        SearchQAEnv(dataset="squad")


def test_step_cap_truncates_without_answer():
    env = SearchQAEnv(dataset="hotpotqa", n_tasks=2, max_tool_calls=2)
    env.reset(seed=0)
    for _ in range(2):
        assert env.step("<search_query> Blic </search_query>")[2:4] == (False, False)
    _, r, term, trunc, info = env.step("<search_query> again </search_query>")
    assert (r, term, trunc) == (0.0, False, True) and info["outcome"]["unanswered"]


def test_backends_give_the_same_observations(tmp_path):
    ds = load_qa_dataset("hotpotqa", "dev")
    sparse = SearchQAEnv(dataset="hotpotqa", top_k=5)
    ref = SearchQAEnv(dataset="hotpotqa", top_k=5, retriever="rank_bm25")
    assert isinstance(ref.retriever, RankBM25Retriever)
    queries = ["Scott Derrickson nationality", "VIVA Media AG 2004 name", "the a of", "Gesellschaft Haftung"]
    for q in queries:
        a, b = sparse.search_tool(q), ref.search_tool(q)
        assert a.text == b.text
        assert [h["id"] for h in a.value["hits"]] == [h["id"] for h in b.value["hits"]]
        for x, y in zip(a.value["hits"], b.value["hits"]):
            assert abs(x["score"] - y["score"]) < 1e-6
    # a corpus file with an on-disk index, and the HTTP backend serving it
    corpus = tmp_path / "corpus.jsonl"
    save_corpus(ds.passages, corpus)
    from_file = SearchQAEnv(dataset="hotpotqa", top_k=5, corpus=str(corpus), index_dir=str(tmp_path / "idx"))
    assert (tmp_path / "idx").is_dir() and len(from_file.retriever) == len(ds.passages)
    with RetrievalServer(from_file.retriever) as srv:
        remote = SearchQAEnv(dataset="hotpotqa", top_k=5, retriever="http", retriever_url=srv.url)
        for q in queries:
            assert remote.search_tool(q).text == from_file.search_tool(q).text == sparse.search_tool(q).text
    with pytest.raises(ValueError, match="retriever_url"):
        SearchQAEnv(dataset="hotpotqa", retriever="http")
    with pytest.raises(ValueError, match="index_dir is for a corpus file"):
        SearchQAEnv(dataset="hotpotqa", index_dir=str(tmp_path / "x"))


def _play(env, policy, index):
    _, info = env.reset(options={"task_index": index})
    while True:
        _, reward, term, trunc, info = env.step(policy.act([info["messages"]])[0])
        if term or trunc:
            return reward, info, env.trajectory()


@pytest.mark.parametrize("dataset", ["hotpotqa", "musique"])
def test_gold_search_oracle_scores_em_1(dataset):
    env = gym.make(f"SwiRL-{'HotPotQA' if dataset == 'hotpotqa' else 'MuSiQue'}-v0").unwrapped
    policy = GoldSearchPolicy(env.tasks)
    top1_found = n_searches = 0
    for i in range(len(env.tasks)):
        reward, info, traj = _play(env, policy, i)
        task = env.tasks[i]
        titles = task.metadata["supporting_titles"][:5]
        assert reward == 1.0 and info["outcome"]["metrics"]["em"] == 1.0 and traj.final_answer == task.answer
        searches = [s for s in traj.steps if s.kind == "call"]
        assert [s.argument for s in searches] == titles
        for s, title in zip(searches, titles):
            n_searches += 1
            top1_found += s.tool_value["hits"][0]["title"] == title
    # the oracle's in-env searches agree with the recall report
    report = supporting_title_recall(dataset, "dev", ks=(1, 5), progress=False)
    if dataset == "hotpotqa":  # every HotPotQA question has <= 5 supporting titles
        assert report["titles"] == n_searches
        assert report["recall@1"] == pytest.approx(top1_found / n_searches)
    assert 0.8 <= report["recall@1"] <= report["recall@5"] and report["recall@5"] >= 0.95
    assert report["passage_recall@1"] <= report["recall@1"]


def test_gold_search_policy_unit():
    tasks = load_qa_dataset("hotpotqa", "dev").tasks[:3]
    policy = GoldSearchPolicy(tasks, max_searches=1)
    state = [{"role": "user", "content": "Instructions.\n\nQuestion: " + tasks[2].question}]
    assert policy.act([state]) == [
        f"<search_query> {tasks[2].metadata['supporting_titles'][0]} </search_query>"
    ]
    state += [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]
    assert policy.act([state]) == [f"<answer> {tasks[2].answer} </answer>"]
    with pytest.raises(KeyError, match="not one of the policy"):
        policy.act([[{"role": "user", "content": "Question: something else"}]])
    with pytest.raises(ValueError):
        GoldSearchPolicy([])


@pytest.mark.parametrize("dataset", ["hotpotqa", "musique"])
def test_sparse_scores_equal_rank_bm25_on_bundled_split_corpus(dataset):
    """Bit-identical BM25 scores over the bundled split corpus, every question used as a query."""
    import numpy as np

    ds = load_qa_dataset(dataset, "dev")
    fast = SearchQAEnv(dataset=dataset).retriever
    ref = SearchQAEnv(dataset=dataset, retriever="rank_bm25").retriever
    for task in ds.tasks:
        np.testing.assert_array_equal(fast.get_scores(task.question), ref.get_scores(task.question))
        a, b = fast.search(task.question, k=5), ref.search(task.question, k=5)
        assert [(h.passage.id, h.score, h.rank) for h in a] == [(h.passage.id, h.score, h.rank) for h in b]
