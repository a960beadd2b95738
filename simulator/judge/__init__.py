"""Judging calls, pure: scenario files, expectations, and the metrics measured on a call's audio."""
