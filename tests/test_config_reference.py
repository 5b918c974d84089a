"""The committed configuration reference is exactly what the generator writes from conf/."""

from __future__ import annotations

from pathlib import Path

from benchmark.report.config_reference import description, reference

ROOT = Path(__file__).resolve().parents[1]


def test_committed_reference_matches_conf():
    committed = (ROOT / "docs" / "config_reference.md").read_text()
    assert committed == reference(ROOT / "conf"), (
        "docs/config_reference.md is stale: run landscape-bench-config-reference conf docs/config_reference.md"
    )


def test_every_option_is_described():
    for path in (ROOT / "conf").glob("*/*.yaml"):
        assert description(path.read_text()), f"{path} has no leading comment saying what it is"


def test_description_skips_package_lines_and_commands():
    text = "# @package _global_\n# What it is,\n# on two lines.\n#   landscape-bench -m x\nkey: 1  # not this\n"
    assert description(text) == "What it is, on two lines."
