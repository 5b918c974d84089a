"""Performance benchmarks of the landscape and curvature engines against peer packages.

``landscape-bench-perf`` (or ``make perf``) runs them; docs/performance.md explains the
setup and shows a table it printed. This package sits on top of ``benchmark``: it imports the rest
of the project and nothing imports it.
"""
