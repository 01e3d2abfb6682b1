"""The sections of benchmarks/README.md, one module per part of the system (see summarize.py)."""
