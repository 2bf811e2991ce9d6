"""The CLI reference (``docs/cli.md``), generated from the commands themselves so it cannot drift.

    python -m dlcompress.commands.reference > docs/cli.md

``tests/unit/test_cli_reference.py`` fails when the committed file differs from what this prints.
"""

from __future__ import annotations

from typing import Any

import typer


def _default(param: Any) -> str:
    if param.required:
        return "required"
    if getattr(param, "is_flag", False):
        return "on" if param.default else "off"
    if param.default is None or param.default == "":
        return ""
    return f"`{param.default}`"


def _names(param: Any) -> str:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}{'...' if param.nargs == -1 else ''}` (positional)"
    opts = sorted(param.opts, key=lambda o: (not o.startswith("--"), o))
    flags = [*opts, *param.secondary_opts]
    return ", ".join(f"`{o}`" for o in flags)


def _command_section(path: str, command: Any) -> list[str]:
    lines = [f"## `dlcompress {path}`", ""]
    text = (command.help or "").strip()
    if text:
        lines += [text, ""]
    options = [p for p in command.params if not getattr(p, "hidden", False) and p.opts]
    if options:
        lines += ["| option | default | what it does |", "| --- | --- | --- |"]
        for p in options:
            help_text = " ".join((p.help or "").split()).replace("|", "\\|")
            lines.append(f"| {_names(p)} | {_default(p)} | {help_text} |")
        lines.append("")
    return lines


def _walk(prefix: str, group: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            out += _walk(path, command)
        else:
            out.append((path, command))
    return out


def cli_reference(app: typer.Typer | None = None) -> str:
    """Markdown: every command with its help text and a table of its options (names, default, help)."""
    from dlcompress.commands import build_app

    root = typer.main.get_command(app or build_app())
    commands = _walk("", root)
    lines = ["# Command-line reference", "",
             "Generated from the commands by `python -m dlcompress.commands.reference > docs/cli.md`; "
             "`dlcompress COMMAND --help` prints the same.", "",
             "Exit codes: 0 success; 2 bad input (one line on stderr says what went wrong and what to do; "
             "nothing is left half-written); 3 a `--min-metric` / `--max-drop` gate failed (the report is written).", "",
             "Commands: " + ", ".join(f"[`{p}`](#dlcompress-{p.replace(' ', '-')})" for p, _ in commands), ""]
    for path, command in commands:
        lines += _command_section(path, command)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
