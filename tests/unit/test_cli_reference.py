"""docs/cli.md is generated from the commands: it must match what the code prints now."""

from pathlib import Path

from dlcompress.commands.reference import cli_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_committed_cli_reference_is_current():
    assert DOC.read_text() == cli_reference(), \
        "docs/cli.md is stale: run `python -m dlcompress.commands.reference > docs/cli.md`"


def test_every_command_and_option_is_listed():
    text = cli_reference()
    for command in ("quantize", "bench", "export", "prune", "depthwise", "distill", "pipeline", "train", "report",
                    "edgetpu-check", "zoo list", "zoo show", "zoo matrix"):
        assert f"## `dlcompress {command}`" in text
    for option in ("--backend", "--max-drop", "--int8-io", "--target-macs", "--precisions", "--devices"):
        assert f"`{option}`" in text, option


def test_version_flag(cli):
    from dlcompress import __version__

    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"dlcompress {__version__}" and __version__ != "0+unknown"
