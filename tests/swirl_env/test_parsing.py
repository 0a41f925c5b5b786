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
    assert P.stop_strings == ["</math_exp>", "</search_query>", "</answer>", "</tool_call>"]
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


# ---------------------------------------------------------------------- hostile inputs
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

from benchmarks.bench_hostile import parser_hostile  # noqa: E402


@pytest.mark.parametrize(
    ("text", "arg"),
    [
        ("I will answer in <answer> tags.\n<answer>X</answer>", "X"),
        ("<answer><answer>X</answer></answer>", "X"),
        ("<answer>a <answer> b <answer>X</answer>", "X"),
        ("Use <math_exp> tags like this: <math_exp>1+1</math_exp>", "1+1"),
        (
            '{"name": "answer", "arguments": {"name": "answer", "arguments": "X"}}',
            "X",  # the inner call ends first
        ),
    ],
)
def test_innermost_complete_call_wins_among_those_ending_together(text, arg):
    a = P.parse(text)
    assert a.argument == arg
    assert a.span is not None and text[a.span[0] : a.span[1]].endswith(("</answer>", "</math_exp>", "}"))


def test_innermost_rule_on_generated_nestings():
    rng = random.Random(0)
    for _ in range(200):
        k = rng.randint(1, 30)
        prose = " ".join(
            rng.choice(["see", "<answer>", "<math_exp>", "tags", "</ math_exp>"]) for _ in range(5)
        )
        text = prose + " <answer>" * k + "X" + "</answer>" * rng.randint(1, k)
        a = P.parse(text)
        assert (a.kind, a.argument) == ("answer", "X") or a.kind == "call", text


def _reference_json(text):
    """The JSON calls a plain (quadratic) decoder finds: raw_decode at every '{"name"'."""
    dec = json.JSONDecoder()
    found = []
    for i in range(len(text)):
        if text.startswith('{"name"', i):
            try:
                obj, end = dec.raw_decode(text, i)
            except ValueError:
                continue
            found.append((end, -i, obj))
    return found


def test_json_extents_agree_with_a_plain_decoder_on_random_fragments():
    pieces = [
        '{"name"',
        ": ",
        '"calculator"',
        '"answer"',
        ', "arguments"',
        '"1+1"',
        "{",
        "}",
        "[",
        "]",
        '"',
        "\\",
        ", ",
        "x",
        '\\"',
    ]
    rng = random.Random(1)
    p = ActionParser({"math_exp": "calculator"}, syntaxes=("json",))
    agree = 0
    for _ in range(3000):
        calls = ['{"name": "calculator", "arguments": {"e": "1+1"}}', '{"name": "answer", "arguments": "7"}']
        parts = [rng.choice(pieces) for _ in range(rng.randint(1, 10))]
        for _ in range(rng.randint(0, 2)):
            parts.insert(rng.randint(0, len(parts)), rng.choice(calls))
        text = "".join(parts)
        got = p.parse(text)
        ref = [(end, neg, obj) for end, neg, obj in _reference_json(text)]
        complete = []
        for end, neg, obj in ref:
            a = p._from_json(obj, (-neg, end))
            if a.kind in ("call", "answer"):
                complete.append((end, neg, a))
        if complete:
            assert (got.kind, got.tool, got.argument, got.span) == (
                lambda a: (a.kind, a.tool, a.argument, a.span)
            )(min(complete, key=lambda c: c[:2])[2]), text
            agree += 1
        else:
            assert got.kind in ("none", "malformed"), text
    assert agree > 50  # the family does contain complete calls


@pytest.mark.parametrize("name", list(parser_hostile(1)))
def test_hostile_inputs_are_reported_fast_and_never_raise(name):
    small, big = parser_hostile(20_000)[name], parser_hostile(80_000)[name]
    t = time.perf_counter()
    a = P.parse(small)
    t_small = time.perf_counter() - t
    t = time.perf_counter()
    b = P.parse(big)
    t_big = time.perf_counter() - t
    assert a.kind in ("call", "answer", "none", "malformed") and b.kind == a.kind
    if a.kind == "malformed":
        assert a.error
    assert t_big < 5.0, t_big
    assert t_big < 12 * t_small + 0.25, (t_small, t_big)  # linear: 4x the text, not 16x the time


def test_deep_and_huge_json_are_informative():
    deep = P.parse('{"name": "calculator", "arguments": ' + "[" * 1000 + "]" * 1000 + "}")
    assert deep.kind == "malformed" and "nested too deeply" in deep.error
    digits = P.parse('{"name": "calculator", "arguments": {"e": ' + "9" * 4301 + "}}")
    assert digits.kind == "malformed" and "too long" in digits.error
    exact = P.parse('{"name": "calculator", "arguments": {"e": 123456789012345678901234567890.5e400}}')
    assert exact.argument == "123456789012345678901234567890.5e400"  # kept as written, never a float
    nan = P.parse('{"name": "calculator", "arguments": {"e": NaN}}')
    assert nan.argument == "NaN"
    openai = P.parse('{"name": "search", "arguments": "' + "[" * 3000 + '"}')
    assert openai.kind == "call" and openai.argument == "[" * 3000  # a non-JSON string argument, as is


def test_escaped_quotes_and_backslashes_in_json_strings():
    a = P.parse(r'{"name": "answer", "arguments": "say \"hi\" \\"} more')
    assert a.argument == 'say "hi" \\'
    b = P.parse(r'{"name": "answer", "arguments": "a\\\"b"}')
    assert b.argument == 'a\\"b'
    c = P.parse('"' * 7 + '{"name": "answer", "arguments": "x"}')  # stray quotes before a call
    assert c.argument == "x"
