"""ionto benchmarks: each ``bench/bench_*.py`` module measures ours against a reference
measured in the same run and returns rows; ``python -m bench`` (``make bench``) runs them
all and writes ``bench/results.md`` and ``bench/results.json``."""
