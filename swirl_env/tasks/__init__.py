"""The task record every environment serves, and the bundled dataset files.

* :mod:`~swirl_env.tasks.base`: :class:`~swirl_env.tasks.base.Task`;
* ``data/``: the bundled samples and their licences (:data:`DATA_ROOT`), read by the
  environments' loaders (:mod:`swirl_env.envs.gsm8k.tasks`, :mod:`swirl_env.envs.qa.common`).

The loaders that lived here moved to their environment's folder (``swirl_env.envs.<env>``); the
old modules (``swirl_env.tasks.gsm8k``, ``.arithmetic``, ``.hotpotqa``, ``.musique``, ``.beerqa``,
``.cofca``, ``.qa_common``) still work and warn (``DeprecationWarning``).

Example:
    >>> (DATA_ROOT / "gsm8k" / "test.jsonl").is_file()
    True
"""

from pathlib import Path

#: The folder of the bundled dataset files (``<dataset>/<file>``).
DATA_ROOT = Path(__file__).resolve().parent / "data"
