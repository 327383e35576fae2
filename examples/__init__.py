"""Runnable examples of relaystate jobs, each on the local Lambda runtime (no AWS account).

Run one with ``python examples/sql_pages.py``, or run its job class with the command line:
``relaystate run examples.fan_out:CountPrimes``. Each module shows one way to cut a long job
into units: SQL pages (:mod:`examples.sql_pages`), paced API calls
(:mod:`examples.rate_limited_api`), byte ranges of a file (:mod:`examples.csv_import`), and
shards run in parallel (:mod:`examples.fan_out`).
"""
