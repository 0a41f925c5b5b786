"""The one action parser: tags and JSON syntaxes, first complete call wins, never raises."""

from __future__ import annotations

import pytest

from swirl_env.parsing import ActionParser, ParsedAction

P = ActionParser({"math_exp": "calculator", "search_query": "search"})


@pytest.mark.parametrize(
    ("text", "kind", "tool", "arg"),
    [
        ("<math_exp>48 / 2</math_exp>", "call", "calculator", "48 / 2"),
        ("Let me compute. < Math_Exp >  3*4 </ MATH_EXP > rest", "call", "calculator", "3*4"),
        ("<search_query>Scorch Trials publisher</search_query>", "call", "search", "Scorch Trials publisher"),
        ("<answer> 18 </answer>", "answer", None, "18"),
        ("<ANSWER>\nParis\n</answer>", "answer", None, "Paris"),
        # first complete call (the one that ends first) wins
        ("<math_exp>1+1</math_exp><answer>2</answer>", "call", "calculator", "1+1"),
        ("<answer>2</answer> <math_exp>1+1</math_exp>", "answer", None, "2"),
        ("<search_query>a <answer>b</answer>", "answer", None, "b"),
        # JSON function-call syntax
        ('{"name": "calculator", "arguments": {"expression": "2**10"}}', "call", "calculator", "2**10"),
        (
            '<tool_call>{"name": "search_query", "arguments": {"query": "Eiffel"}}</tool_call>',
            "call",
            "search",
            "Eiffel",
        ),
        ('{"name": "answer", "arguments": {"answer": "42"}}', "answer", None, "42"),
        ('{"name": "search", "arguments": "{\\"query\\": \\"x\\"}"}', "call", "search", "x"),
        ("Unicode: <answer>Beyoncé ✓ 中文</answer>", "answer", None, "Beyoncé ✓ 中文"),
    ],
)
def test_valid_actions(text, kind, tool, arg):
    a = P.parse(text)
    assert (a.kind, a.tool, a.argument) == (kind, tool, arg)
    assert a.span is not None and a.span[1] <= len(text)


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [
        ("I think the answer is 18.", "none", "no tool call"),
        ("", "none", "no tool call"),
        ("<math_exp>1+", "malformed", "unclosed <math_exp>"),
        ("<math_exp>   </math_exp>", "malformed", "empty"),
        ("<answer></answer>", "malformed", "empty answer"),
        ('{"name": "calculator", "arguments": {"a": "1", "b": "2"}}', "malformed", "exactly one"),
        ('{"name": "rm -rf", "arguments": {"x": "1"}}', "malformed", "unknown tool"),
        ('{"name": "calculator", "arguments": ', "malformed", "invalid JSON"),
        ("<calculator>1+1</calculator>", "none", "no tool call"),
        ("<math_exp>" + "9" * 5000 + "</math_exp>", "malformed", "too long"),
    ],
)
def test_bad_actions_are_reported_not_raised(text, kind, fragment):
    a = P.parse(text)
    assert a.kind == kind
    assert fragment in (a.error or "")


@pytest.mark.parametrize("junk", [None, 123, b"<answer>1</answer>", ["<answer>1</answer>"]])
def test_non_string_input(junk):
    assert P.parse(junk).kind == "malformed"


def test_stop_strings_and_format_round_trip():
    assert P.stop_strings == ["</math_exp>", "</search_query>", "</answer>"]
    for tool in ("calculator", "search", "answer"):
        text = P.format_call(tool, "x y")
        parsed = P.parse(text)
        assert parsed.argument == "x y" and (parsed.tool == tool or tool == "answer")
    a = P.parse("<math_exp>1</math_exp>")
    assert ParsedAction.from_dict(a.to_dict()) == a


def test_tags_only_syntax_ignores_json():
    p = ActionParser({"math_exp": "calculator"}, syntaxes=("tags",))
    assert p.parse('{"name": "calculator", "arguments": {"e": "1"}}').kind == "none"


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError):
        ActionParser({"answer": "x"})
    with pytest.raises(ValueError):
        ActionParser({"bad tag": "x"})
    with pytest.raises(ValueError):
        ActionParser({"t": "x"}, syntaxes=("xml",))


def test_random_fragments_never_raise():
    import random

    rng = random.Random(0)
    pieces = [
        "<math_exp>",
        "</math_exp>",
        "<answer>",
        "</answer>",
        "{",
        "}",
        '"name"',
        ":",
        '"calculator"',
        '"arguments"',
        "<",
        ">",
        "/",
        " ",
        "1+1",
        "é",
        "\x00",
        "\n",
        "<search_query>",
        '"answer"',
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        a = P.parse(text)
        assert a.kind in ("call", "answer", "none", "malformed")
        if a.kind in ("call", "answer"):
            assert a.argument and a.argument == a.argument.strip()
