"""Hostile-input families for the calculator and the action parser, and their measurement.

The generators are the test families of ``tests/swirl_env/tools/test_calculator.py``, ``tests/swirl_env/test_parsing.py``
and ``tests/swirl_env/test_env_core.py``; ``main`` runs them all and prints, per area, the cases tried,
how many were handled (a value or a clean error for the calculator, the exact value for the
separators, an informative parse for the parser, an observation for ``env.step``), the slowest
case and the peak memory (``tracemalloc``, in a second, untimed pass) of the family.

    python -m benchmarks.bench_hostile            # all families
    python -m benchmarks.bench_hostile --n 600    # larger calculator families

Example:
    >>> len(calculator_time_bombs(50, seed=1)) == 50
    True
    >>> separator_cases(3, seed=0)[0]
    ('max(3,500)', '500')
"""

from __future__ import annotations

import argparse
import math
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "calculator_time_bombs",
    "main",
    "measure",
    "parser_hostile",
    "separator_cases",
]

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def calculator_time_bombs(n: int = 300, seed: int = 0) -> list[str]:
    """``n`` expressions of the classes that make SymPy slow: rational powers with huge
    denominators or operands, negative rational exponents, deep and nested radicals, powers of
    sums of radicals reduced modulo an integer, floors of large irrational values, and mixes."""
    rng = random.Random(seed)
    out = ["(1/99999)**(1/99999)", "(2/99999)**(1/99999)", "18**(999998/999999)"]
    while len(out) < n:
        kind = rng.randrange(9)
        a = rng.randint(1, 10 ** rng.randint(1, 12))
        b = rng.randint(2, 10 ** rng.randint(1, 12))
        d = rng.randint(2, 10 ** rng.randint(1, 7))
        c = rng.randint(1, 2 * d)
        if kind == 0:
            out.append(f"({a}/{b})**({c}/{d})")
        elif kind == 1:
            out.append(f"{a}**({c}/{d})")
        elif kind == 2:
            out.append(f"({a}/{b})**(-{c}/{d}) * {rng.randint(1, 99)}")
        elif kind == 3:
            depth = rng.randint(2, 30)
            out.append("sqrt(" * depth + str(a) + ")" * depth)
        elif kind == 4:
            ps = rng.sample(_PRIMES, rng.randint(2, 6))
            out.append(
                "(" + "+".join(f"sqrt({p})" for p in ps) + f")**{rng.randint(2, 60)} % {rng.randint(1, 9)}"
            )
        elif kind == 5:
            ps = rng.sample(_PRIMES, 4)
            roots = "+".join(f"{p}**(1/{rng.randint(2, 9)})" for p in ps)
            out.append(f"floor(({roots})**{rng.randint(2, 40)})")
        elif kind == 6:
            out.append(
                f"(({a}/{b})**(1/{d}) - 1) * 10**{rng.randint(1, 90)} + log({a}, {rng.randint(2, 9)}) ** ({c}/{d})"
            )
        elif kind == 7:
            s = "2"
            for _ in range(rng.randint(2, 8)):
                s = f"sqrt({rng.choice(_PRIMES)} + {s})"
            out.append(f"({s})**{rng.randint(2, 30)} % 1 + max({s}, pi**{rng.randint(2, 50)} % 3)")
        else:
            big = rng.randint(10**50, 10**99)
            out.append(
                f"round(({big}/{b})**({c}/{d}), {rng.randint(0, 20)}) + ceil(e**{rng.randint(1, 200)} / {b})"
            )
    return out[:n]


def separator_cases(n: int = 200, seed: int = 0) -> list[tuple[str, str]]:
    """``(expression, exact value)`` pairs where a comma is an argument separator (inside a
    call) or a thousands separator (outside one), mixed in one expression."""
    rng = random.Random(seed)
    out = [("max(3,500)", "500"), ("max(10,20,300)", "300"), ("gcd(12,300)", "12")]
    while len(out) < n:
        args = [rng.randint(1, 999) for _ in range(rng.randint(2, 5))]
        fn = rng.choice(["max", "min", "gcd", "lcm"])
        value = {"max": max, "min": min, "gcd": math.gcd, "lcm": math.lcm}[fn](*args)
        sep = rng.choice([",", ", ", " ,"])
        thousands = rng.randint(1, 999) * 1000 + rng.randint(100, 999)
        written = f"{thousands // 1000},{thousands % 1000:03d}"
        form = rng.randrange(3)
        if form == 0:
            out.append((f"{fn}({sep.join(map(str, args))})", str(value)))
        elif form == 1:
            out.append((f"{written} + {fn}({sep.join(map(str, args))})", str(thousands + value)))
        else:
            out.append((f"({written} - {fn}({sep.join(map(str, args))})) * 2", str((thousands - value) * 2)))
    return out[:n]


def parser_hostile(scale: int = 100_000) -> dict[str, str]:
    """Long and deep actions that used to be slow or to raise, keyed by a short name."""
    return {
        "open tags": "<math_exp>" * scale,
        "open answer tags": "<answer>" * scale,
        "nested answers": "<answer>" * scale + "X" + "</answer>" * scale,
        "json name fragments": '{"name"' * scale,
        "json open strings": '{"name": "' * scale,
        "json nested arrays": '{"name": [' * scale,
        "json small objects": '{"name": "x"} ' * (scale // 2),
        "deep json argument": '{"name": "calculator", "arguments": ' + "[" * 1000 + "]" * 1000 + "}",
        "deep arguments string": '{"name": "calculator", "arguments": "' + "[" * 5000 + '"}',
        "4301-digit number": '{"name": "calculator", "arguments": {"e": ' + "9" * 4301 + "}}",
        "lone quotes": '"' * scale + '{"name": "answer", "arguments": "x"}',
        "backslashes": '{"name": "answer", "arguments": "' + "\\" * scale + '"}',
        "mixed": ("<math_exp>1</answer>{" + '"tool"' + ": [" + '"\\"') * (scale // 20),
    }


def measure(cases: Sequence[Any], run: Callable[[Any], str]) -> dict[str, Any]:
    """Run every case twice: timed (how many ``run`` calls return True, the slowest), then under
    ``tracemalloc`` (its peak; tracing slows allocation-heavy code, so it is not timed), with
    SymPy's cache cleared before each pass so that neither pass reuses the other's work."""
    from sympy.core.cache import clear_cache

    clear_cache()
    handled, values, slowest, slowest_case = 0, 0, 0.0, None
    for case in cases:
        t = time.perf_counter()
        outcome = run(case)  # "value", "error" (a clean refusal) or "" (not handled)
        dt = time.perf_counter() - t
        handled += bool(outcome)
        values += outcome == "value"
        if dt > slowest:
            slowest, slowest_case = dt, case
    clear_cache()
    tracemalloc.start()
    try:
        for case in cases:
            run(case)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {
        "cases": len(cases),
        "handled": handled,
        "values": values,
        "slowest_s": slowest,
        "slowest_case": str(slowest_case)[:70],
        "peak_mib": peak / 2**20,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of every family."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="size of each calculator family")
    ap.add_argument("--scale", type=int, default=100_000, help="repetitions in the long parser inputs")
    args = ap.parse_args(argv)

    import gymnasium as gym  # noqa: F401  (imported before timing)

    from swirl_env import Task, ToolEnv
    from swirl_env.parsing import ActionParser
    from swirl_env.tools.calculator import Calculator

    calc = Calculator()
    calc("1 + 1")  # warm SymPy up

    def calc_ok(expr: str) -> str:
        r = calc(expr)
        return "value" if r.ok else "error" if r.text.startswith("Error: ") and len(r.text) < 400 else ""

    def sep_ok(case: tuple[str, str]) -> str:
        r = calc(case[0])
        return "value" if r.ok and r.value["exact"] == case[1] else ""

    parser = ActionParser({"math_exp": "calculator", "search_query": "search"})
    hostile = parser_hostile(args.scale)

    def parse_ok(name: str) -> str:
        a = parser.parse(hostile[name])
        if a.kind in ("call", "answer"):
            return "value"
        return "error" if a.kind == "none" or (a.kind == "malformed" and a.error) else ""

    env = ToolEnv(
        [Task("t0", "What is 2 + 2?", ("4",), "toy", "test")],
        [Calculator()],
        metric=lambda p, g: {"em": float(p in g)},
        primary_metric="em",
    )

    def step_ok(name: str) -> str:
        env.reset(seed=0)
        info = env.step(hostile[name])[4]
        if info["step"]["kind"] in ("call", "answer"):
            return "value"
        return "error" if str(info["step"].get("observation")).startswith("Error: ") else ""

    rows = [
        ("calculator time bombs", measure(calculator_time_bombs(args.n), calc_ok)),
        ("calculator separators", measure(separator_cases(args.n), sep_ok)),
        ("parser (whole text)", measure(list(hostile), parse_ok)),
        ("env.step (cut to max_action_chars)", measure(list(hostile), step_ok)),
    ]
    print(
        "| family | cases | handled | of which values / calls | slowest case (s) | slowest input | peak memory (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['cases']} | {r['handled']} | {r['values']} | {r['slowest_s']:.3f} | `{r['slowest_case']}` "
            f"| {r['peak_mib']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
