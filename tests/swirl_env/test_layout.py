"""The plug-in layout: env specs with their domain and default judges, task domains (and the
dataset-name fallback for old records), and the deprecated module paths."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import pytest
import toys

import swirl_env
from swirl_env import ENV_SPECS, EnvSpec, Task, env_spec
from swirl_env.rewards.judges import make_judge
from swirl_env.rewards.judges.base import OutcomeRequest, ProcessRequest
from swirl_env.rewards.judges.rule import RuleOutcomeJudge, RuleProcessJudge
from swirl_env.rewards.prompts import select_process_prompt
from swirl_env.tasks.base import task_domain

DATA_KWARGS = toys.ENV_DATA_KWARGS


# ---------------------------------------------------------------------------------------------- specs
@pytest.mark.parametrize("env_id", sorted(ENV_SPECS))
def test_every_spec_names_its_domain_and_buildable_default_judges(env_id):
    spec = env_spec(env_id)
    assert spec is ENV_SPECS[env_id] is env_spec(f"swirl_env:{env_id}")
    assert spec.domain in ("math", "search")
    assert make_judge(spec.process_judge, "process") is not None
    assert make_judge(spec.outcome_judge, "outcome") is not None
    env = gym.make(env_id, **DATA_KWARGS.get(env_id, {}))
    _obs, info = env.reset(seed=0)
    assert info["task"]["domain"] == spec.domain  # every loader labels its tasks
    env.close()


def test_the_default_judges_are_those_in_use():
    assert env_spec("SwiRL-Arithmetic-v0").process_judge == "arithmetic"  # the gold-aware rule judge
    assert {s.process_judge for i, s in ENV_SPECS.items() if "Arithmetic" not in i} == {"rule"}
    assert {s.outcome_judge for s in ENV_SPECS.values()} == {"rule"}
    assert {i: s.domain for i, s in ENV_SPECS.items()} == {
        "SwiRL-GSM8K-v0": "math",
        "SwiRL-Arithmetic-v0": "math",
        "SwiRL-HotPotQA-v0": "search",
        "SwiRL-MuSiQue-v0": "search",
        "SwiRL-BeerQA-v0": "search",
        "SwiRL-CofCA-v0": "search",
    }


def test_spec_checks_and_the_old_pair_form():
    spec = ENV_SPECS["SwiRL-HotPotQA-v0"]
    entry_point, kwargs = spec
    assert (entry_point, kwargs) == (spec[0], spec[1]) == (spec.entry_point, {"dataset": "hotpotqa"})
    with pytest.raises(ValueError, match="domain"):
        EnvSpec("pkg.mod:Env", domain="code")
    with pytest.raises(ValueError, match="module:Class"):
        EnvSpec("pkg.mod.Env")
    with pytest.raises(KeyError, match="SwiRL-GSM8K-v0"):
        env_spec("SwiRL-Nope-v0")
    assert {"EnvSpec", "env_spec"} <= set(swirl_env.__all__)


# ---------------------------------------------------------------------------------------------- domains
def test_task_domain_round_trips_and_is_left_out_when_unset():
    old = Task("q", "2+2?", ("4",), "gsm8k", "test", {"k": 1})
    assert "domain" not in old.to_dict() and Task.from_dict(old.to_dict()) == old
    new = Task("q", "2+2?", ("4",), "toy", "test", domain="math")
    assert new.to_dict()["domain"] == "math" and Task.from_dict(new.to_dict()) == new
    assert [task_domain(t) for t in (old, new, None)] == ["math", "math", ""]
    assert task_domain(Task("q", "Who?", ("Ann",), "hotpotqa", "dev")) == "search"
    assert task_domain(Task("q", "Who?", ("Ann",), "", "dev")) == ""


CTX = [{"role": "user", "content": "Question: Tom has 3 bags of 4 apples. How many apples?"}]


def _task(dataset: str, domain: str = "") -> Task:
    return Task("q", "Tom has 3 bags of 4 apples. How many apples?", ("12",), dataset, "test", domain=domain)


def test_the_judges_read_the_domain_before_the_dataset_name():
    judge = RuleProcessJudge()
    answer = "<answer> 12 </answer>"
    # a math task of no math dataset: the math rules (an answer before any calculation is BAD)
    math = judge.judge_step(ProcessRequest(_task("toy", "math"), CTX, answer))
    assert math.rationale.startswith("[math.early_answer]")
    # the same question labelled search, even with a math dataset name: the search rules
    search = judge.judge_step(ProcessRequest(_task("gsm8k", "search"), CTX, answer))
    assert search.rationale.startswith("[search.answer]")
    # an old record without a domain: the dataset name decides, as before
    legacy = judge.judge_step(ProcessRequest(_task("gsm8k"), CTX, answer))
    assert legacy.rationale == math.rationale
    assert (
        select_process_prompt(ProcessRequest(_task("toy", "math"), CTX, answer)).version == "process-math-v1"
    )
    assert (
        select_process_prompt(ProcessRequest(_task("gsm8k", "search"), CTX, answer)).version
        == "process-search-v1"
    )
    assert select_process_prompt(ProcessRequest(_task("gsm8k"), CTX, answer)).version == "process-math-v1"

    outcome = RuleOutcomeJudge()
    [by_domain, by_name] = outcome.judge_outcomes(
        [OutcomeRequest(_task("toy", "math"), "$12.00"), OutcomeRequest(_task("gsm8k"), "$12.00")]
    )
    assert by_domain.label is True and by_name.label is True  # numeric match, not QA match
    assert outcome.judge_outcomes([OutcomeRequest(_task("gsm8k", "search"), "$12.00")])[0].label is False


def test_labelling_the_domain_changes_no_decision_on_bundled_data():
    """Every loader's tasks are judged the same with their domain and without it (old records)."""
    import dataclasses

    from swirl_env.envs.arithmetic.tasks import ArithmeticTasks
    from swirl_env.envs.gsm8k.tasks import load_gsm8k
    from swirl_env.envs.qa.loaders import load_qa_dataset

    tasks = [*load_gsm8k("test")[:20], *ArithmeticTasks(20), *load_qa_dataset("hotpotqa", "dev").tasks[:20]]
    actions = ["<math_exp> 3 * 4 </math_exp>", "<answer> 12 </answer>", "<search_query> x </search_query>"]
    judge, outcome = RuleProcessJudge(), RuleOutcomeJudge()
    for t in tasks:
        assert t.domain in ("math", "search")
        bare = dataclasses.replace(t, domain="")
        ctx = [{"role": "user", "content": "Question: " + t.question}]
        for a in actions:
            assert judge.judge_step(ProcessRequest(t, ctx, a)) == judge.judge_step(
                ProcessRequest(bare, ctx, a)
            )
            assert select_process_prompt(ProcessRequest(t, ctx, a)) == select_process_prompt(
                ProcessRequest(bare, ctx, a)
            )
        assert outcome.judge_outcomes([OutcomeRequest(t, t.answer)]) == outcome.judge_outcomes(
            [OutcomeRequest(bare, t.answer)]
        )


# ---------------------------------------------------------------------------------------------- old paths
OLD_PATHS = {
    "swirl_env.tasks.gsm8k": ("load_gsm8k", "swirl_env.envs.gsm8k.tasks"),
    "swirl_env.tasks.arithmetic": ("generate_task", "swirl_env.envs.arithmetic.tasks"),
    "swirl_env.tasks.hotpotqa": ("load_hotpotqa", "swirl_env.envs.qa.loaders"),
    "swirl_env.tasks.musique": ("read_musique", "swirl_env.envs.qa.musique"),
    "swirl_env.tasks.beerqa": ("read_beerqa", "swirl_env.envs.qa.beerqa"),
    "swirl_env.tasks.cofca": ("cofca_corpus", "swirl_env.envs.qa.loaders"),
    "swirl_env.tasks.qa_common": ("load_qa_dataset", "swirl_env.envs.qa.loaders"),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_module_paths_still_work_and_warn(old):
    name, new = OLD_PATHS[old]
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; import {name} from {new}"):
        obj = getattr(module, name)
    assert obj is getattr(importlib.import_module(new), name)
    assert name in module.__all__
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_old_private_names_and_new_packages_import_without_warnings():
    from swirl_env.envs.qa.common import PACKAGE_DATA

    with pytest.warns(DeprecationWarning):
        from swirl_env.tasks.qa_common import PACKAGE_DATA as old  # not in __all__, still there
    assert old == PACKAGE_DATA
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from swirl_env.envs.arithmetic import ArithmeticEnv, ArithmeticProcessJudge, ArithmeticStepJudge
        from swirl_env.envs.gsm8k import GSM8KEnv, load_gsm8k
        from swirl_env.envs.qa import SearchQAEnv, load_qa_dataset

    assert ArithmeticEnv.__module__ == "swirl_env.envs.arithmetic.env"
    assert {ArithmeticProcessJudge.__module__, ArithmeticStepJudge.__module__} == {
        "swirl_env.envs.arithmetic.judge"
    }
    assert (GSM8KEnv.__module__, load_gsm8k.__module__) == (
        "swirl_env.envs.gsm8k.env",
        "swirl_env.envs.gsm8k.tasks",
    )
    assert (SearchQAEnv.__module__, load_qa_dataset.__module__) == (
        "swirl_env.envs.qa.env",
        "swirl_env.envs.qa.loaders",
    )


# ---------------------------------------------------------------------------------------------- rule split
def test_the_rule_judge_dispatches_to_the_math_and_search_rule_judges():
    from swirl_env.envs.gsm8k.tasks import load_gsm8k
    from swirl_env.envs.qa.loaders import load_qa_dataset
    from swirl_env.rewards.judges import MathRuleProcessJudge, SearchRuleProcessJudge

    rule, math, search = RuleProcessJudge(), MathRuleProcessJudge(), SearchRuleProcessJudge()
    assert rule.config() == {**math.config(), **search.config()}
    gsm = load_gsm8k("test")[0]
    qa = load_qa_dataset("hotpotqa", "dev").tasks[0]
    for task, alone in ((gsm, math), (qa, search)):
        ctx = [{"role": "user", "content": "Question: " + task.question}]
        for action in ("<math_exp> 16 - 3 - 4 </math_exp>", "<search_query> VIVA Media </search_query>"):
            for a in (action, f"<answer> {task.answer} </answer>", "no call"):
                r = ProcessRequest(task, ctx, a)
                both, one = rule.judge_step(r), alone.judge_step(r)
                if one.label is None:  # the other domain's tool: no rule in the judge alone
                    assert one.error.startswith("[unknown_tool]") and both.label is not None
                else:
                    assert (one.label, one.rationale) == (both.label, both.rationale)
