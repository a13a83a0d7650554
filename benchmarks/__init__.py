"""Speed and memory measurements of the real bot against the Discord emulator.

Run them all with `python -m benchmarks`, or one with `python -m benchmarks.<name>`.
They print their figures; they are not tests and assert only that the work completed.
"""
