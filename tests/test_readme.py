"""The README is the front door: short, its commands the ones CI runs, its links alive.

`.ci/run` installs the project and runs the tests exactly as the README tells a newcomer;
this test fails when the two drift apart. It also checks that every relative link in the
README and in docs/ points at a file that exists, and that every page is in the site's
nav (`mkdocs build --strict` in CI checks the same and the anchors, with mkdocs).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
DOCS = ROOT / "docs"
MKDOCS = ROOT / "mkdocs.yml"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", "((", "))", ";;"}
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _shell_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```(?:bash|sh)\n(.*?)^```", text, re.S | re.M)]


def _commands(script: str) -> list[list[str]]:
    """Each simple command of a shell text (split on newlines and operators), as tokens."""
    out: list[list[str]] = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in lexer:
            if token in _OPERATORS:
                out.append(command)
                command = []
            else:
                command.append(token)
        out.append(command)
    return [c for c in out if c]


def _pip_install_target(tokens: list[str]) -> list[str] | None:
    """`pip install [-q] -e X` or `python -m pip install ...` → the arguments after install."""
    if "pip" not in tokens or "install" not in tokens:
        return None
    args = tokens[tokens.index("install") + 1 :]
    return [a for a in args if a not in ("-q", "--quiet")]


def _pytest_args(tokens: list[str]) -> list[str] | None:
    if tokens[:3] == ["python", "-m", "pytest"]:
        return tokens[3:]
    return None


def _readme_quick_start() -> tuple[list[list[str]], list[list[str]]]:
    """The README's first two shell blocks: install-and-run, and the test command."""
    blocks = _shell_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README must open with two shell blocks: install+run, tests"
    return _commands(blocks[0]), _commands(blocks[1])


def _ci_commands() -> list[list[str]]:
    # Only lines that run something at the top level of the script (no functions).
    text = CI.read_text(encoding="utf-8")
    text = re.sub(r"^\w+\(\) \{.*?^\}", "", text, flags=re.S | re.M)
    joined = text.replace("\\\n", " ")
    return [c for c in _commands(joined) if c]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_install_is_what_ci_installs() -> None:
    install, _ = _readme_quick_start()
    readme_pip = [t for t in map(_pip_install_target, install) if t is not None]
    assert readme_pip == [["-e", ".[dev]"]], readme_pip
    assert install[0][:3] == ["python3", "-m", "venv"], "the quick start creates a virtualenv"
    assert install[-1] == ["offerbot", "serve"], "the quick start ends by starting the bot"
    ci_pip = [t for t in map(_pip_install_target, _ci_commands()) if t is not None]
    project = [t for t in ci_pip if "--upgrade" not in t]
    assert project == readme_pip, f".ci/run installs {project}, the README says {readme_pip}"


def test_readme_test_command_is_what_ci_runs() -> None:
    _, tests = _readme_quick_start()
    assert len(tests) == 1, tests
    readme_args = _pytest_args(tests[0])
    assert readme_args == ["-q"], tests[0]
    runs = [_pytest_args(c[c.index("python") :]) for c in _ci_commands() if "python" in c]
    runs = [r for r in runs if r is not None]
    assert runs, ".ci/run runs no `python -m pytest`"
    for args in runs:
        # CI adds only `-p no:cacheprovider` (no cache files in the checkout).
        assert args == [*readme_args, "-p", "no:cacheprovider"], args


def test_ci_builds_the_docs_strictly() -> None:
    builds = [c for c in _ci_commands() if "mkdocs" in c]
    assert builds and all("build" in c and "--strict" in c for c in builds), builds


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m.group(1) for m in _LINK.finditer(text)]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for link in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("#"):
            continue  # an address, or an anchor in the same page
        target = (path.parent / link.split("#", 1)[0]).resolve()
        if not target.exists() or ROOT not in target.parents:
            broken.append(link)
    assert not broken, f"{path.relative_to(ROOT)}: broken relative links {broken}"


def test_every_docs_page_is_in_the_nav() -> None:
    nav = set(re.findall(r":\s*([\w./-]+\.md)\s*$", MKDOCS.read_text(encoding="utf-8"), re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), f"pages missing from the nav in mkdocs.yml: {pages - nav}"
    assert nav - pages == set(), f"mkdocs.yml nav names pages that do not exist: {nav - pages}"


def test_code_points_to_docs_pages_that_exist() -> None:
    """Comments point to docs pages (`see docs/offer-flow.md`), never to files outside."""
    missing, outside = [], []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        for page in re.findall(r"\bdocs/[\w./-]+\.md\b", text):
            if not (ROOT / page).is_file():
                missing.append(f"{where}: {page}")
        if re.search(r"\bSPEC(\.md| §)", text):
            outside.append(str(where))
    assert not missing, f"comments name docs pages that do not exist: {missing}"
    assert not outside, f"comments point to SPEC, which is not in the repository: {outside}"
