"""Leaderboard and zoo-summary rendering: deterministic text from the same numbers."""

from __future__ import annotations

import dataclasses

from benchmark.report.zoo_summary import plot_zoo, summary_markdown


def test_zoo_summary_is_independent_of_hparam_insertion_order(tiny_record, tmp_path):
    a = dataclasses.replace(tiny_record, hparams={"width": 6, "lr": 0.01, "seed": 0}, model_id="a", group="g1")
    b = dataclasses.replace(tiny_record, hparams={"lr": 0.02, "width": 8, "seed": 0}, model_id="b", group="g2")
    one = summary_markdown("z", [a, b], ["test_accuracy"], 1.0, "cmd", order=["width", "lr"])
    two = summary_markdown("z", [b, a], ["test_accuracy"], 1.0, "cmd", order=["width", "lr"])
    assert one == two
    assert "- axes: width ∈ {6, 8}; lr ∈ {0.01, 0.02}" in one
    assert "| width | lr | test_accuracy | n |" in one
    assert plot_zoo([a, b], ["test_accuracy"], tmp_path / "z.png", "z", order=["width", "lr"]).is_file()


def test_a_printed_command_reruns_from_any_folder(tmp_path):
    """Paths become absolute (plugins ending in .py, file:// search paths, the path-valued keys),
    the search path and --config-dir folders are kept, Hydra's other overrides are not, and words the
    shell would read specially are quoted."""
    import shlex

    from benchmark.report.provenance import rerun_command

    cwd = tmp_path / "here"
    command = rerun_command(
        [
            "experiment=tiny",
            "plugins=[my_desc.py,my_pkg.module]",
            "zoo=manifest",
            "zoo.manifest=zoo/manifest.json",
            "+dataset.path=/abs/table.csv",
            "descriptors=[merge_tree,hessian]",
        ],
        ["hydra.mode=RUN", "hydra.searchpath=[file://my_conf,pkg://other.conf]", "hydra.run.dir=x"],
        ["/abs/conf_dir"],
        cwd,
    )
    words = shlex.split(command)
    assert words == [
        "landscape-bench",
        "--config-dir",
        "/abs/conf_dir",
        f"hydra.searchpath=[file://{cwd.resolve() / 'my_conf'},pkg://other.conf]",
        "experiment=tiny",
        f"plugins=[{cwd.resolve() / 'my_desc.py'},my_pkg.module]",
        "zoo=manifest",
        f"zoo.manifest={cwd.resolve() / 'zoo' / 'manifest.json'}",
        "+dataset.path=/abs/table.csv",
        "descriptors=[merge_tree,hessian]",
    ]
    assert " experiment=tiny " in command and "'descriptors=[merge_tree,hessian]'" in command
    assert rerun_command(["experiment=digits_mlp"], [], [], cwd) == "landscape-bench experiment=digits_mlp"
    assert rerun_command(["study=pinn_beta"], [], [], cwd, multirun=True) == "landscape-bench -m study=pinn_beta"
