"""The four multi-hop QA environments with search (HotPotQA, MuSiQue, BeerQA, CofCA), in one folder.

* :mod:`~swirl_env.envs.qa.env`: :class:`SearchQAEnv` (the registered entry point
  ``swirl_env.envs.qa:SearchQAEnv``, one id per dataset) and its retriever;
* one reader per dataset, each of its official format: :mod:`~swirl_env.envs.qa.hotpotqa`,
  :mod:`~swirl_env.envs.qa.musique`, :mod:`~swirl_env.envs.qa.beerqa`,
  :mod:`~swirl_env.envs.qa.cofca`;
* :mod:`~swirl_env.envs.qa.common`: what the readers share (:class:`QADataset`, file reading,
  passage ids, where the files are);
* :mod:`~swirl_env.envs.qa.loaders`: :func:`load_qa_dataset` (by dataset name, cached per
  process) and the ``load_<name>`` / ``<name>_corpus`` shortcuts. It imports the readers; they
  import only ``common``.

Its process judge is the rule judge's search rules (``"rule"``). Names are imported on first use.

Example:
    >>> from swirl_env.envs.qa import DATASETS, load_qa_dataset
    >>> DATASETS, load_qa_dataset("hotpotqa", "dev").name
    (('hotpotqa', 'musique', 'beerqa', 'cofca'), 'hotpotqa')
"""

from swirl_env._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "env": "*",
        "common": "*",
        "loaders": "*",
        "hotpotqa": "*",
        "musique": "*",
        "beerqa": "*",
        "cofca": "*",
    },  # each submodule's own __all__
    globals(),
)
