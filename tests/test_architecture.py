"""The layer rules of STYLE.md, checked on the source itself (`ast`, no imports of it).

- routes (`fidelis/api`) never import SQLAlchemy;
- services never import FastAPI/Starlette and never commit;
- repositories never import FastAPI;
- only `fidelis/ledger` writes the ledger's tables (entries, accounts, lots, ...);
- money and ledger code never uses `float`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fidelis"

LEDGER_TABLES = ("entry", "account", "lot", "lot_movement", "transfer", "hold", "hold_part")


@dataclass(frozen=True)
class Module:
    path: Path
    tree: ast.Module
    source: str

    @property
    def name(self) -> str:
        return self.path.relative_to(SRC.parent).as_posix()

    def imported(self) -> list[tuple[int, str]]:
        """Every module this one imports, with its line number."""
        found: list[tuple[int, str]] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((node.lineno, node.module))
        return found

    def imports_from(self, *packages: str) -> list[str]:
        return [
            f"{self.name}:{line} imports {module}"
            for line, module in self.imported()
            if any(module == p or module.startswith(p + ".") for p in packages)
        ]


def _load() -> list[Module]:
    modules = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        modules.append(Module(path, ast.parse(source, filename=str(path)), source))
    return modules


MODULES = _load()


def under(*parts: str) -> list[Module]:
    folder = SRC.joinpath(*parts)
    return [m for m in MODULES if folder in m.path.parents]


def named(filename: str) -> list[Module]:
    return [m for m in MODULES if m.path.name == filename]


def test_the_walk_sees_the_source() -> None:
    # Guard against a vacuous pass if the layout moves.
    assert SRC.is_dir()
    assert len(under("api")) >= 3
    assert len(named("service.py")) >= 4
    assert len(named("repository.py")) >= 4
    assert (SRC / "ledger" / "repository.py") in [m.path for m in MODULES]


def test_routes_do_not_import_sqlalchemy() -> None:
    offences = [o for m in under("api") for o in m.imports_from("sqlalchemy")]
    assert offences == []


def test_services_do_not_import_the_web_framework() -> None:
    offences = [o for m in named("service.py") for o in m.imports_from("fastapi", "starlette")]
    assert offences == []


def test_services_never_commit() -> None:
    offences = [
        f"{m.name}:{node.lineno}"
        for m in named("service.py")
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]
    assert offences == []
    # Belt and braces: not even through a name the AST walk cannot see.
    assert [m.name for m in named("service.py") if ".commit(" in m.source] == []


def test_repositories_do_not_import_the_web_framework() -> None:
    offences = [o for m in named("repository.py") for o in m.imports_from("fastapi", "starlette")]
    assert offences == []


def _may_write_the_ledger(module: Module) -> bool:
    return (SRC / "ledger") in module.path.parents or module.path == SRC / "db" / "tables.py"


WRITE_PATTERNS = [
    # insert(entry) / update(lot) / delete(account) / dialect_insert(conn, lot) ...
    re.compile(
        r"\b\w*(?:insert|update|delete)\(\s*(?:\w+\s*,\s*)?(?:" + "|".join(LEDGER_TABLES) + r")\b"
    ),
    # entry.insert() / lot.update() on the Table object.
    re.compile(r"\b(?:" + "|".join(LEDGER_TABLES) + r")\.(?:insert|update|delete)\("),
    # Raw SQL.
    re.compile(
        r"(?:insert\s+into|update|delete\s+from)\s+\"?(?:" + "|".join(LEDGER_TABLES) + r")\b",
        re.IGNORECASE,
    ),
]


def test_only_the_ledger_writes_ledger_tables() -> None:
    offences = []
    for module in MODULES:
        if _may_write_the_ledger(module):
            continue
        for number, line in enumerate(module.source.splitlines(), start=1):
            if any(p.search(line) for p in WRITE_PATTERNS):
                offences.append(f"{module.name}:{number}: {line.strip()}")
    assert offences == []


@pytest.mark.parametrize(
    "line",
    [
        "insert(entry).values(...)",
        "stmt = update(account).where(...)",
        "update( lot )",
        "dialect_insert(conn, lot_movement)",
        "transfer.insert().values(...)",
        'text("UPDATE account SET balance = 0")',
        "insert(hold_part)",
    ],
)
def test_write_patterns_catch_writes(line: str) -> None:
    assert any(p.search(line) for p in WRITE_PATTERNS)


@pytest.mark.parametrize(
    "line",
    [
        "insert(customer)",
        "update(tenant)",
        "update(api_key)",
        "changes.update({...})",
        "insert(lots)",
    ],
)
def test_write_patterns_let_other_tables_be(line: str) -> None:
    assert not any(p.search(line) for p in WRITE_PATTERNS)


def test_no_float_in_money_or_the_ledger() -> None:
    modules = [m for m in MODULES if m.path == SRC / "kit" / "money.py"]
    modules += under("ledger") + under("adjustment")
    assert len(modules) >= 4
    offences = []
    for module in modules:
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "float"
            ):
                offences.append(f"{module.name}:{node.lineno}: float(...)")
            elif isinstance(node, ast.Constant) and isinstance(node.value, float):
                offences.append(f"{module.name}:{node.lineno}: float literal {node.value!r}")
        offences += [
            f"{module.name}:{n}: {line.strip()}"
            for n, line in enumerate(module.source.splitlines(), start=1)
            if "float(" in line
        ]
    assert offences == []
