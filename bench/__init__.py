"""Benchmarks of the event backbone: append, relay, replay and end-to-end lag.

Run with ``make bench`` (or ``.venv/bin/python -m bench --help``). Every figure is measured
next to a baseline that does the same work with the raw drivers (asyncpg, aiokafka), in the
same run on the same machine; results go to ``bench/RESULTS.md``.
"""
