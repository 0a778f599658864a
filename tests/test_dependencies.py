"""Dependencies are pinned, and the audit cannot pass by skipping what it could not check."""

import re

from ioc import PROJECT_ROOT

PIN = re.compile(r"^[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][A-Za-z0-9.]*$")


def test_every_requirement_is_pinned_to_one_version():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (PROJECT_ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r "):
                assert PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_the_audit_fails_on_packages_it_could_not_check():
    # pip-audit skips a package it cannot look up and still exits 0; --strict makes that exit 1.
    audit = (PROJECT_ROOT / "Makefile").read_text().split("\naudit:", 1)[1].split("\n\n", 1)[0]
    assert "pip-audit --strict" in audit and "-r requirements.txt" in audit
