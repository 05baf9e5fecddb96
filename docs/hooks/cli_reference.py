"""MkDocs hook: the command-line reference, generated from sweeper's own parser (so it is
never written twice). A page holding ``<!-- cli-reference -->`` gets, in its place, each
command's ``--help`` as the parser prints it."""

from __future__ import annotations

import os

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal's width
    from sweeper.cli.parser import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")  # argparse's subparsers
    parts = ["```", parser.format_help().rstrip(), "```"]
    for name, command in commands.choices.items():
        parts += [f"## `sweeper {name}`", "", "```", command.format_help().rstrip(), "```", ""]
    return markdown.replace(MARKER, "\n".join(parts))
