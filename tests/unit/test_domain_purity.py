"""The domain stays pure: no module under chalicelib/domain imports frameworks, I/O clients or the OS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "chalicelib" / "domain"
FORBIDDEN = {"chalice", "boto3", "botocore", "requests", "pymysql", "sqlalchemy", "redis", "aws_xray_sdk", "os"}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_domain_package_has_modules_to_check():
    assert {"partners.py", "quorum.py", "restrictions.py"} <= {p.name for p in DOMAIN.glob("*.py")}


@pytest.mark.parametrize("module", sorted(DOMAIN.rglob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_nothing_forbidden(module: Path):
    assert imported_roots(module.read_text(encoding="utf-8")) & FORBIDDEN == set()


def test_the_check_sees_every_form_of_import():
    source = "import os.path\nfrom boto3 import client\nimport chalice as c\nfrom . import partners\n"
    assert imported_roots(source) & FORBIDDEN == {"os", "boto3", "chalice"}
