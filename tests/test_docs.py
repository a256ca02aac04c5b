"""The documentation as a reader uses it: every command marked runnable (``<!-- runnable -->``
before its fenced block) works as written on the demo data, every link leads somewhere, and
every setting is documented with its default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```(?:sh|bash)\n(.*?)```", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in RUNNABLE.findall(doc.read_text(encoding="utf-8")):
            for command in block.replace("\\\n", " ").splitlines():
                command = command.strip()
                if command and not command.startswith("#"):
                    found.append((doc.relative_to(ROOT).as_posix(), command))
    return found


COMMANDS = _commands()


def test_the_docs_mark_their_example_commands_runnable():
    assert len(COMMANDS) >= 5
    assert {doc for doc, _ in COMMANDS} >= {"README.md"}


@pytest.mark.parametrize("doc, command", COMMANDS, ids=[f"{d}: {c[:60]}" for d, c in COMMANDS])
def test_a_runnable_command_works_as_written_on_the_demo(doc, command, tmp_path):
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    (tmp_path / "mappings").symlink_to(ROOT / "mappings")
    expected = int(m.group(1)) if (m := re.search(r"#\s*exits (\d+)\s*$", command)) else 0
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == expected, f"{doc}: {command}\n{done.stderr[-2000:]}"


def _anchors(path: Path) -> set[str]:
    anchors = set()
    for heading in re.findall(r"(?m)^#+ (.*)$", path.read_text(encoding="utf-8")):
        text = re.sub(r"[`*_]", "", heading.strip().lower())
        anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_link_leads_somewhere(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        goal = (doc.parent / path).resolve() if path else doc
        assert goal.exists(), f"{doc.name}: {target} leads nowhere"
        if anchor and goal.suffix == ".md":
            assert anchor in _anchors(goal), f"{doc.name}: {target}: no such heading"


def _row(page: str, key: str) -> list[str]:
    row = re.search(rf"^\| `{re.escape(key)}` \|(.*)$", page, re.M)
    assert row, f"docs/configuration.md has no row for {key}"
    return [cell.strip() for cell in row.group(1).split("|")]


def test_every_setting_is_documented_with_its_default():
    from adapter.config import NOTE_SETTINGS

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    thresholds = json.loads((ROOT / "mappings" / "thresholds.json").read_text())
    for key, default in ((k, v) for k, v in thresholds.items() if not k.startswith("_")):
        if isinstance(default, dict) and all(isinstance(v, dict) for v in default.values()):
            for sub, values in default.items():
                shown = _row(page, f"{key}.{sub}")[0]
                assert all(f"{name} {value:g}" in shown for name, value in values.items())
        elif isinstance(default, dict):
            shown = _row(page, key)[0]
            assert all(f"{name} {value:.1f}" in shown for name, value in default.items()), key
        else:
            shown = _row(page, key)[0]
            assert shown.startswith("none" if default is None else f"{default:g}"), key
    for key, default in NOTE_SETTINGS.items():
        assert _row(page, f"notes.{key}")[0] == str(default).lower()
    for key in ("facility_timezone", "policies.default", "policies.dir", "policies.payers"):
        _row(page, key)


def test_the_readme_tour_shows_what_the_demo_run_prints(capsys):
    from adapter.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme[readme.index("## A tour of a run"):]
    shown = re.search(r"\n```\n(CLAIM.*?)```", tour, re.S)
    assert shown, "README: the tour's sample output is gone"
    main(["check", "--source", str(ROOT / "fixtures" / "demo")])
    printed = set(capsys.readouterr().out.splitlines())
    for line in shown.group(1).splitlines():
        assert line == "..." or line in printed, f"README tour: not printed now: {line}"
