"""Installs come from the lock file only: every dependency of pyproject.toml (all extras, and the
extras they ask of their own dependencies) is pinned with == in requirements.lock at a version
its range allows, the lock pins nothing loosely, and the Makefile installs the lock and then the
project itself with --no-deps (so pip resolves nothing on its own)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, Version]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found[canonicalize_name(match.group(1))] = Version(match.group(3))
    return found


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        requirements += [Requirement(r) for r in extra]
    return requirements


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What requirement's extras (celery[redis] -> redis) add, from the installed metadata."""
    found = []
    for text in metadata.requires(requirement.name) or []:
        dependency = Requirement(text)
        if dependency.marker and any(dependency.marker.evaluate({"extra": extra}) for extra in requirement.extras) \
                and not dependency.marker.evaluate({"extra": ""}):
            found.append(dependency)
    return found


def test_every_dependency_is_pinned_in_the_lock_file():
    locked = {**pins(ROOT / "requirements.lock"), **pins(ROOT / "requirements-model.lock")}
    requirements = project_requirements()
    assert len(requirements) > 40
    missing, outside = [], []
    for requirement in requirements:
        for needed in [requirement, *extra_requirements(requirement)]:
            name = canonicalize_name(needed.name)
            if name not in locked:
                missing.append(str(needed))
            elif needed.specifier and locked[name] not in needed.specifier:
                outside.append(f"{needed} (locked {locked[name]})")
    assert not missing, f"not in requirements.lock: {missing}"
    assert not outside, f"locked outside the allowed range: {outside}"


def test_the_lock_file_pins_the_installed_versions():
    """What the tests run against is what the lock says."""
    locked = pins(ROOT / "requirements.lock")
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        assert Version(metadata.version(requirement.name)) == locked[name], requirement.name


def test_makefile_installs_from_the_lock_file_only():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines()
                if "pip install" in line and "kith-lock-venv" not in line]  # `make lock` builds the lock itself
    assert any(re.search(r"pip install .*-r requirements\.lock", line) for line in installs), installs
    assert any(re.search(r"pip install .*--no-deps .*-e \.", line) for line in installs), installs
    for line in installs:
        allowed = ("-r requirements.lock" in line or "--no-deps" in line
                   or re.search(r"pip install (-q )?--upgrade pip$", line))
        assert allowed, f"Makefile installs something outside the lock: {line}"
        if "requirements-model.lock" in line or "-e ." in line:
            assert "--no-deps" in line, line
