"""relaystate's benchmarks: ``python -m bench [NAME ...]`` prints tables, writes results.md."""
