"""Guards: every command is documented, every spider imports, scrapy sees the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from roundups.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    return sorted(action.choices)


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in subcommands() if f"`roundup {name}" not in readme]
    assert not missing, f"commands not documented in README.md: {missing}"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1].strip() for b in readme.split("```")[1::2] if b.startswith("sh")]
    demo, tests = blocks[0], blocks[1]
    assert demo.endswith("roundup demo")
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_spider_module_imports_and_scrapy_lists_the_feed_spider() -> None:
    import importlib
    import pkgutil

    import scrapers.spiders

    for info in pkgutil.iter_modules(scrapers.spiders.__path__):
        importlib.import_module(f"scrapers.spiders.{info.name}")
    out = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert "feeds" in out.stdout.split()
