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


def test_configuration_page_lists_every_option_of_every_group():
    """docs/configuration.md's table of groups names exactly the YAML files of each conf/ group."""
    import re

    page = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `([a-z_/]+)` \| (.+?) \|", page, flags=re.MULTILINE)
    checked = 0
    for group, options in rows:
        folder = ROOT / "conf" / group
        if group.startswith("hydra/") or not folder.is_dir():
            continue
        named = set(re.findall(r"`([a-z0-9_]+)`", options))
        assert named == {p.stem for p in folder.glob("*.yaml")}, group
        checked += 1
    assert checked == 9  # dataset, zoo, landscape, curvature, descriptors, regressor, protocol, experiment, study
