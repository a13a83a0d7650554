"""The lock files say what pyproject.toml asks for, every pin with its hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FIX = "run `make lock` and commit requirements.lock and requirements-dev.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", re.MULTILINE)
_VIA_PROJECT = "balint-bot (pyproject.toml)"


def project_requirements(extras: bool) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    if extras:
        wanted += project["optional-dependencies"]["dev"]
    return [Requirement(line) for line in wanted]


def pins(lock: str) -> dict[str, Version]:
    return {canonicalize_name(name): Version(version) for name, version in _PIN.findall(lock)}


def asked_for_by_the_project(lock: str) -> set[str]:
    """The packages the lock says it has because pyproject.toml names them."""
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock)
    return {
        canonicalize_name(match[1])
        for block in blocks
        if _VIA_PROJECT in block and (match := _PIN.match(block.strip()))
    }


@pytest.mark.parametrize(
    ("lock_name", "extras"), [("requirements.lock", False), ("requirements-dev.lock", True)]
)
def test_the_lock_matches_pyproject(lock_name: str, extras: bool) -> None:
    lock = (ROOT / lock_name).read_text(encoding="utf-8")
    pinned = pins(lock)
    wanted = project_requirements(extras)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock_name} lacks {requirement.name}: {FIX}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock_name} pins {requirement.name}=={pinned[name]}, outside "
            f"{requirement.specifier}: {FIX}"
        )
    assert asked_for_by_the_project(lock) == {canonicalize_name(r.name) for r in wanted}, (
        f"{lock_name} was made from another pyproject.toml: {FIX}"
    )


@pytest.mark.parametrize("lock_name", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_has_hashes_and_no_machine_specific_index(lock_name: str) -> None:
    lock = (ROOT / lock_name).read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.strip())
    pinned_blocks = [b for b in blocks if _PIN.match(b)]
    assert len(pinned_blocks) == len(pins(lock)) > 10
    assert all("--hash=sha256:" in block for block in pinned_blocks), FIX
    assert "--index-url" not in lock, FIX
    assert "--find-links" not in lock, FIX
