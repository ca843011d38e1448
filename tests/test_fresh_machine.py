"""The README's two commands on a fresh machine: make provides the Debian packages the suite needs.

The chain: `make test` installs Debian's chromium when `$(CHROMIUM)` is missing and hands that path to
pytest as BROWSER_PATH; the browser tests and the exports resolve their browser with `find_browser`,
which reads it. The Makefile's install logic runs here for real, with apt-get replaced by a stub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlplab.viz.export import find_browser

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # A clean make: no flags or overrides inherited from a `make test` that may be running this suite.
    base = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run([MAKE, "-s", "-C", str(ROOT), *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=60)


def _stub_apt_get(tmp_path: Path, installs: dict[str, Path]) -> tuple[Path, Path]:
    """An apt-get that logs its arguments and, on `install`, creates a file for each package named."""
    log = tmp_path / "apt.log"
    lines = ['#!/bin/sh', f'echo "$*" >> "{log}"', 'if [ "$1" = install ]; then', '  for a in "$@"; do case "$a" in']
    for package, path in installs.items():
        lines.append(f'    {package}) printf "#!/bin/sh\\nexit 0\\n" > "{path}"; chmod +x "{path}";;')
    lines += ['  esac; done', 'fi']
    stub = tmp_path / "apt-get"
    stub.write_text("\n".join(lines) + "\n")
    stub.chmod(0o755)
    return stub, log


def _fake_python(tmp_path: Path, marker: Path) -> Path:
    """A python3 whose `import ensurepip, venv` fails until `marker` exists (Debian without python3-venv)."""
    fake = tmp_path / "python3"
    fake.write_text(f'#!/bin/sh\n[ -e "{marker}" ] && exit 0\nexit 1\n')
    fake.chmod(0o755)
    return fake


@needs_make
def test_the_browser_the_suite_drives_is_the_debian_chromium_make_provides(monkeypatch):
    dry = _make("-n", "test", "IS_ROOT=yes").stdout
    found = re.search(r"^BROWSER_PATH=(\S+) \S*python -m pytest$", dry, re.M)
    assert found, f"`make test` does not hand pytest a BROWSER_PATH:\n{dry}"
    chromium = found.group(1)
    assert f"test -x {chromium}" in dry  # the check that triggers `apt-get install chromium` guards this path
    monkeypatch.setenv("BROWSER_PATH", chromium)
    assert find_browser() == chromium  # what tests/e2e/conftest.py launches and kaleido renders with
    monkeypatch.delenv("BROWSER_PATH")
    assert os.path.samefile(find_browser(), chromium)  # a plain `pytest` here drives the same file

    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian system: no dpkg to say which package owns the browser")
    owner = subprocess.run(["dpkg", "-S", chromium], capture_output=True, text=True, check=True).stdout
    assert owner.split(":")[0] == "chromium", owner


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_playwright_launches_that_package_not_a_downloaded_browser():
    """The version the running browser reports is the installed Debian package's version."""
    package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "chromium"], capture_output=True, text=True)
    assert package.returncode == 0, "Debian's chromium package is not installed (make test installs it)"
    # In a process of its own: the browser tests' session keeps a Playwright event loop in this one
    code = (
        "import sys\nfrom playwright.sync_api import sync_playwright\n"
        "with sync_playwright() as p:\n"
        "    b = p.chromium.launch(executable_path=sys.argv[1], args=['--no-sandbox', '--disable-gpu'])\n"
        "    print(b.version)\n    b.close()\n"
    )
    probe = subprocess.run([sys.executable, "-c", code, find_browser()], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    running = probe.stdout.strip()
    assert package.stdout.startswith(running + "-"), (running, package.stdout)  # e.g. 131.0.6778.85-1~deb12u1


@needs_make
def test_make_installs_missing_chromium_with_apt_get_as_root(tmp_path):
    chromium = tmp_path / "chromium"
    stub, log = _stub_apt_get(tmp_path, {"chromium": chromium})
    done = _make("system-test", f"CHROMIUM={chromium}", f"APT_GET={stub}", "IS_ROOT=yes")
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]  # update first, only what is missing
    assert os.access(chromium, os.X_OK)


@needs_make
def test_make_installs_python3_venv_when_ensurepip_is_missing(tmp_path):
    marker = tmp_path / "ensurepip-installed"
    stub, log = _stub_apt_get(tmp_path, {"python3-venv": marker})
    done = _make("system-venv", f"PY={_fake_python(tmp_path, marker)}", f"APT_GET={stub}", "IS_ROOT=yes")
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq python3-venv"]


@needs_make
def test_make_fails_when_apt_get_did_not_provide_the_package(tmp_path):
    stub, log = _stub_apt_get(tmp_path, {})
    done = _make("system-test", f"CHROMIUM={tmp_path / 'chromium'}", f"APT_GET={stub}", "IS_ROOT=yes")
    assert done.returncode != 0
    assert "chromium is still missing after apt-get install" in done.stderr


@needs_make
def test_without_root_make_says_in_one_line_what_to_install_and_why(tmp_path):
    stub, log = _stub_apt_get(tmp_path, {})
    fake_python = _fake_python(tmp_path, tmp_path / "never")
    done = _make("test", f"PY={fake_python}", f"CHROMIUM={tmp_path / 'chromium'}", f"APT_GET={stub}", "IS_ROOT=")
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1, done.stderr
    assert "sudo apt-get install -y python3-venv chromium" in ours[0]
    assert "ensurepip" in ours[0] and "Chromium" in ours[0]  # why each is needed
    assert not log.exists()  # nothing was attempted


def test_ci_is_a_thin_wrapper_over_make_test(tmp_path):
    log = tmp_path / "make.log"
    fake = tmp_path / "make"
    fake.write_text(f'#!/bin/sh\necho "$*" > "{log}"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(ROOT / ".ci" / "run")], env=env, check=True, timeout=60, cwd=tmp_path)
    assert log.read_text().split() == ["test"]


@needs_make
def test_make_notebooks_installs_the_notebook_extra_and_opens_the_notebooks():
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebook"]
    assert {re.split(r"[<>=]", r)[0] for r in extra} >= {"jupyterlab", "ipykernel"}
    dry = _make("-n", "notebooks").stdout
    assert '-e ".[notebook]"' in dry
    opened = re.search(r"jupyter lab (\S+)$", dry, re.M)
    assert opened and sorted((ROOT / opened.group(1)).glob("*.ipynb"))
