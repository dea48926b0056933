"""Bad-input test tier (issue 14, item 5): spec/space mutants, a CLI flag fuzzer and property tests.

Run the quick part with ``pytest -q tests/hardening -m "not slow"``; print the figures with
``python benchmarks/hardening_tier.py --seed 0 --n 600`` (see docs/hardening.md).
"""
