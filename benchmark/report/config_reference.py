"""The configuration reference, generated from ``conf/`` (never edited by hand).

    landscape-bench-config-reference conf docs/config_reference.md

For every config group: each option with its leading comment (what it is) and its full YAML
(every key with its inline comment). ``tests/test_config.py`` checks the committed page equals
what this writes, so it cannot drift from the configs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "landscape-bench-config-reference"
MULTI_SELECT = ("descriptors", "regressor")
HEADER = """# Configuration reference

Generated from `conf/` by `landscape-bench-config-reference conf docs/config_reference.md`;
do not edit by hand. [configuration.md](configuration.md) explains how the groups compose; each
option below is a YAML file `conf/<group>/<option>.yaml`, chosen with `<group>=<option>`
(`<group>=[a,b]` for the multi-select groups `descriptors` and `regressor`).
"""


def description(text: str) -> str:
    """The option's leading comment lines (``@package`` lines skipped), joined into one line."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if body.startswith("@package") or body.startswith("landscape-bench "):
            continue
        lines.append(body)
    return " ".join(lines).replace("|", "\\|")


def reference(conf: Path) -> str:
    """The whole reference page for the config folder ``conf``."""
    parts = [HEADER, "## Root: `config.yaml`", "", "```yaml", (conf / "config.yaml").read_text().rstrip(), "```", ""]
    for group in sorted(p for p in conf.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        options = sorted(group.glob("*.yaml"))
        if not options:
            continue
        select = " (several at once)" if group.name in MULTI_SELECT else ""
        parts += [f"## `{group.name}`{select}", "", "| option | what it is |", "|---|---|"]
        parts += [f"| [`{o.stem}`](#{group.name}-{o.stem}) | {description(o.read_text())} |" for o in options]
        parts.append("")
        for o in options:
            parts += [f"### {group.name}: {o.stem}", "", "```yaml", o.read_text().rstrip(), "```", ""]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("conf", type=Path, help="the conf/ folder")
    parser.add_argument("out", type=Path, help="the page to write, e.g. docs/config_reference.md")
    args = parser.parse_args(argv)
    conf, out = args.conf, args.out
    if not (conf / "config.yaml").is_file():
        print(f"{conf} has no config.yaml; give the conf/ folder.", file=sys.stderr)
        return 2
    out.write_text(reference(conf))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
