"""Judges by short name: every spec form of make_judge, its errors, and registering a new judge."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from swirl_env.rewards.judges import make_judge, register_judge
from swirl_env.rewards.judges.base import Judgement, OutcomeJudge, OutcomeRequest, ProcessJudge
from swirl_env.rewards.judges.registry import judge_names, unregister_judge


class ConstantOutcomeJudge(OutcomeJudge):
    """Says ``label`` to every answer (a stand-in for a plug-in's judge)."""

    name = "constant-outcome"

    def __init__(self, label: bool = True, *, note: str = "") -> None:
        self.label, self.note = label, note

    @classmethod
    def negative(cls, **kwargs: str) -> ConstantOutcomeJudge:
        return cls(False, **kwargs)

    def config(self) -> dict:
        return {"label": self.label}

    def judge_outcomes(self, requests: Sequence[OutcomeRequest]) -> list[Judgement]:
        return [Judgement(label=self.label, score=float(self.label), judge=self.name) for _ in requests]


@pytest.fixture
def registered():
    """Names registered by a test, forgotten afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_judge(name)


def test_no_spec_is_no_judge():
    assert make_judge(None, "process") is None
    assert make_judge("", "outcome") is None


def test_builtin_short_names():
    assert {"rule", "hf", "openai", "arithmetic", "arithmetic-step"} <= set(judge_names())
    assert type(make_judge("rule", "process")).__name__ == "RuleProcessJudge"
    assert type(make_judge("rule", "outcome")).__name__ == "RuleOutcomeJudge"
    assert type(make_judge("arithmetic", "process")).__name__ == "ArithmeticProcessJudge"
    step = make_judge("arithmetic-step", "process", {"check_repeats": False})
    assert type(step).__name__ == "ArithmeticStepJudge" and step.check_repeats is False
    assert "arithmetic" in judge_names("process") and "arithmetic" not in judge_names("outcome")
    with pytest.raises(ValueError, match="no outcome judge"):
        make_judge("arithmetic", "outcome")


def test_hf_form_passes_the_path(monkeypatch):
    from swirl_env.rewards.judges import hf
    from swirl_env.rewards.judges.rule import RuleOutcomeJudge

    seen = []

    def fake(cls, name_or_path, **kwargs):
        seen.append((cls.__name__, name_or_path, kwargs))
        return RuleOutcomeJudge()

    monkeypatch.setattr(hf.HFOutcomeJudge, "from_pretrained", classmethod(fake))
    make_judge("hf:/models/judge:v2", "outcome", {"mode": "score"})
    assert seen == [("HFOutcomeJudge", "/models/judge:v2", {"mode": "score"})]
    with pytest.raises(ValueError, match="hf:NAME_OR_PATH"):
        make_judge("hf", "outcome")
    with pytest.raises(ValueError, match="hf:NAME_OR_PATH"):
        make_judge("hf:", "outcome")


def test_openai_form_one_or_several_servers():
    judge = make_judge("openai:judge-model@http://localhost:9/v1", "process")
    assert type(judge).__name__ == "OpenAIProcessJudge"
    judge.close()
    several = make_judge("openai:judge-m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", "outcome")
    assert several._chat.base_urls == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    several.close()
    for bad in ("openai:judge-model", "openai:@http://x/v1", "openai:m@"):
        with pytest.raises(ValueError, match="MODEL@BASE_URL"):
            make_judge(bad, "process")


def test_import_path_forms_and_kind_check():
    judge = make_judge(f"{__name__}:ConstantOutcomeJudge", "outcome", {"label": False})
    assert isinstance(judge, ConstantOutcomeJudge) and judge.label is False
    assert isinstance(make_judge("swirl_env.rewards.judges.rule:RuleProcessJudge", "process"), ProcessJudge)
    negative = make_judge(f"{__name__}:ConstantOutcomeJudge.negative", "outcome", {"note": "n"})
    assert negative.label is False and negative.note == "n"  # 'module:Class.factory'
    with pytest.raises(TypeError, match="ProcessJudge"):
        make_judge(f"{__name__}:ConstantOutcomeJudge", "process")
    with pytest.raises(ValueError, match="cannot import"):
        make_judge("no_such_module:Judge", "outcome")
    with pytest.raises(ValueError, match="cannot import"):
        make_judge(f"{__name__}:NoSuchJudge", "outcome")
    with pytest.raises(ValueError, match="takes no argument"):
        make_judge("rule:strict", "process")
    with pytest.raises(ValueError, match="kind must be"):
        make_judge("rule", "reward")


def test_an_import_path_never_calls_anything_but_a_judge_class(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("os.system", lambda *a, **k: calls.append(a))
    for spec in ("os:system", "builtins:print", "builtins:eval", "sys:exit", "os:getcwd", "builtins:dict"):
        with pytest.raises(TypeError, match="not a"):
            make_judge(spec, "process", {"command": "echo no"})
    assert calls == []
    (tmp_path / "judge_boom.py").write_text("raise RuntimeError('boom at import')\n", encoding="utf-8")
    (tmp_path / "judge_syntax.py").write_text("def (:\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"cannot import 'judge_boom:J'.*RuntimeError: boom at import"):
        make_judge("judge_boom:J", "process")
    with pytest.raises(ValueError, match=r"cannot import 'judge_syntax:J'.*SyntaxError"):
        make_judge("judge_syntax:J", "process")
    for spec in (1, 1.5, True, 0, ["rule"], {"rule": 1}, b"rule"):
        with pytest.raises(TypeError, match="judge spec is a string"):
            make_judge(spec, "process")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be"):
        make_judge("", "bogus")
    with pytest.raises(ValueError, match="could not be built: TypeError"):
        make_judge(f"{__name__}:ConstantOutcomeJudge", "outcome", {"no_such_kwarg": 1})


def test_unknown_short_name_lists_known_names():
    with pytest.raises(ValueError, match="module:ClassName") as e:
        make_judge("no-such-judge", "process")
    for name in ("arithmetic", "arithmetic-step", "hf", "openai", "rule"):
        assert name in str(e.value)


def test_cache_wraps_the_judge(tmp_path):
    from swirl_env.rewards.judges.cache import CachedJudge

    judge = make_judge("rule", "outcome", cache=str(tmp_path / "c.sqlite"))
    assert isinstance(judge, CachedJudge) and type(judge.judge).__name__ == "RuleOutcomeJudge"
    judge.close()


def test_register_a_judge_by_name_and_build_it(registered):
    register_judge("always", outcome=f"{__name__}:ConstantOutcomeJudge")
    registered.append("always")
    assert "always" in judge_names("outcome") and "always" not in judge_names("process")
    judge = make_judge("always", "outcome", {"label": False})
    assert isinstance(judge, ConstantOutcomeJudge) and judge.label is False
    with pytest.raises(ValueError, match="already registered"):
        register_judge("always", outcome=ConstantOutcomeJudge)
    register_judge("always", outcome=ConstantOutcomeJudge, replace=True)
    assert make_judge("always", "outcome").label is True


def test_register_a_judge_that_takes_an_argument(registered):
    register_judge(
        "const",
        outcome=ConstantOutcomeJudge,
        parse_argument=lambda arg: [{"yes": True, "no": False}[arg]],
        usage="const:yes|no",
    )
    registered.append("const")
    assert make_judge("const:no", "outcome").label is False
    assert make_judge("const:yes", "outcome", {"note": "n"}).note == "n"
    with pytest.raises(ValueError, match=re.escape("const:yes|no")):
        make_judge("const", "outcome")
    register_judge("note", outcome=ConstantOutcomeJudge, takes_argument=True)
    registered.append("note")
    assert make_judge("note:x", "outcome").label == "x"  # the argument is the first positional one


@pytest.mark.parametrize(
    "name, factories, match",
    [
        ("a:b", {"outcome": ConstantOutcomeJudge}, "no ':'"),
        ("", {"outcome": ConstantOutcomeJudge}, "judge name"),
        ("evil\n", {"outcome": ConstantOutcomeJudge}, "judge name"),
        ("x", {}, "process and/or an outcome"),
        ("x", {"outcome": "no_colon"}, "module:attr"),
    ],
)
def test_register_rejects_bad_entries(name, factories, match):
    with pytest.raises(ValueError, match=match):
        register_judge(name, **factories)


@pytest.mark.parametrize(
    "url",
    ["ftp://x/v1", "file:///etc/passwd", "notaurl", "http://a b/v1", "javascript:alert(1)",
     "http://x/v1\r\nX-Injected: 1", "a,b,", "http://a/v1,,http://b/v1", "http:///v1"],
)  # fmt: skip
def test_openai_judge_urls_are_checked_when_the_judge_is_built(url):
    with pytest.raises(ValueError, match="URL"):
        make_judge(f"openai:m@{url}", "process")
