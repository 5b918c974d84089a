"""Leaderboards rendered from score rows: Markdown and CSV with provenance."""

from benchmark.report.leaderboard import gather_sweep, render_markdown, write_leaderboard
from benchmark.report.provenance import provenance

__all__ = ["gather_sweep", "provenance", "render_markdown", "write_leaderboard"]
