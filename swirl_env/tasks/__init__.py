"""The task record every environment serves, and the bundled dataset files.

* :mod:`~swirl_env.tasks.base`: :class:`~swirl_env.tasks.base.Task`;
* ``data/``: the bundled samples and their licences (:data:`DATA_ROOT`), read by the
  environments' loaders (:mod:`swirl_env.envs.gsm8k.tasks`, :mod:`swirl_env.envs.qa.common`).

The loaders that lived here moved to their environment's folder (``swirl_env.envs.<env>``); the
old modules (``swirl_env.tasks.gsm8k``, ``.arithmetic``, ``.hotpotqa``, ``.musique``, ``.beerqa``,
``.cofca``, ``.qa_common``) still work and warn (``DeprecationWarning``): :data:`MOVED` lists
where each went, and :func:`~swirl_env._lazy.moved_submodules` serves them.

Example:
    >>> (DATA_ROOT / "gsm8k" / "test.jsonl").is_file()
    True
    >>> MOVED["beerqa"]
    (('swirl_env.envs.qa.beerqa', 'swirl_env.envs.qa.loaders'), ('beerqa_corpus', 'load_beerqa', 'read_beerqa'))
"""

from pathlib import Path

from swirl_env._lazy import Move, moved_submodules

#: The folder of the bundled dataset files (``<dataset>/<file>``).
DATA_ROOT = Path(__file__).resolve().parent / "data"

_QA = "swirl_env.envs.qa"

#: old submodule -> (the modules its content moved to, its ``__all__``; ``None``: theirs)
MOVED: dict[str, Move] = {
    "gsm8k": (("swirl_env.envs.gsm8k.tasks",), None),
    "arithmetic": (("swirl_env.envs.arithmetic.tasks",), None),
    "qa_common": ((f"{_QA}.common", f"{_QA}.loaders"), None),
    **{
        name: (
            (f"{_QA}.{name}", f"{_QA}.loaders"),
            tuple(sorted((f"{name}_corpus", f"load_{name}", f"read_{name}"))),
        )
        for name in ("hotpotqa", "musique", "beerqa", "cofca")
    },
}

moved_submodules(__name__, MOVED)
