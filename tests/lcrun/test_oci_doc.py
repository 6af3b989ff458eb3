"""docs/oci.md tells what the code does: the config.json table is lcrun.oci.fields_markdown(), every command is listed."""

from __future__ import annotations

import re
from pathlib import Path

from lcrun import cli
from lcrun.oci import FIELDS, fields_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "oci.md"
BEGIN = "<!-- fields: lcrun.oci.fields_markdown() -->\n"
END = "<!-- end of fields -->\n"


def fields_section(text: str) -> str:
    """The generated table between the markers."""
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)]


def test_the_config_json_table_is_generated_from_the_translation_table():
    # To regenerate: replace the text between the markers with fields_markdown().
    assert fields_section(DOC.read_text()) == fields_markdown()
    assert all(f"`{path}`" in fields_markdown() for path in FIELDS)


def test_a_field_missing_from_the_doc_is_noticed():
    """Twin: a table without one row differs."""
    text = DOC.read_text()
    first_row = fields_markdown().splitlines()[2] + "\n"
    assert fields_section(text.replace(first_row, "", 1)) != fields_markdown()


def test_every_command_is_in_the_commands_table():
    text = DOC.read_text()
    listed = set(re.findall(r"^\| `(\w+)[ `]", text, re.M))
    assert set(cli.COMMANDS) <= listed, set(cli.COMMANDS) - listed
