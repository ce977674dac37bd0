"""The fenced code blocks of the user documentation, read the way a user copies them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
#: Every page whose command blocks a user pastes.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "td_components" / "README.md"]
#: Fences whose lines are commands for a POSIX shell (bash, zsh).
SHELL = {"sh", "bash", "shell", "console"}

_FENCE = re.compile(r"^```(\S*)\s*$")
_HEADING = re.compile(r"^(#{1,6}) (.+)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, from 1
    language: str
    section: str  # the level-2 heading above it
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[list[str]]:
        """Each line as the shell splits it."""
        return [shlex.split(line) for line in self.lines if line.strip()]


def code_blocks(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines: list[str] = []
    section, opened, language = "", 0, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line)
        if opened:
            if fence and not fence.group(1):
                blocks.append(Block(page, opened, language, section, tuple(lines)))
                opened = 0
            else:
                lines.append(line)
        elif fence:
            opened, language, lines = number, fence.group(1), []
        elif (heading := _HEADING.match(line)) and len(heading.group(1)) == 2:
            section = heading.group(2).strip()
    assert not opened, f"{page}:{opened}: a code block that is never closed"
    return blocks


def shell_blocks(page: Path, section: str | None = None) -> list[Block]:
    """The shell command blocks of a page, or of one of its level-2 sections."""
    found = [
        b for b in code_blocks(page) if b.language in SHELL and (section is None or b.section == section)
    ]
    assert found or section is None, f"{page.name} has no command block under '## {section}'"
    return found
