"""Fleet analysis: many bundles at once, one SQLite store, stacking, IOC sweep, score, index page.

Modules, by what they hold:
  batch.py     the per-bundle task (module level, so Dask pickles it by reference) and the runners
               (process pool locally, ``distributed.Client`` when given a scheduler)
  store.py     the ``fleet.sqlite`` schema and loading of per-host ``summary.json`` files
  normalize.py how commands and paths are normalised so the same thing stacks on every host
  stacking.py  least-frequency-of-occurrence queries and rare-item findings
  ioc.py       IOC file parsers (typed lines, CSV, STIX 2.1) and the sweep over the store
  score.py     host score from findings, with its explanation
  index.py     the self-contained ``index.html``

Nothing here is imported by the collector, and dask is imported only when a scheduler is given.
"""
