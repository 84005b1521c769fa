"""Dependencies point one way, app → db → geo, and geo/ knows no web framework or database."""

import ast
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

# What each layer must not import (top-level package names).
FORBIDDEN = {
    "geo": {"app", "db", "litestar", "sqlalchemy", "advanced_alchemy", "geoalchemy2", "asyncpg"},
    "db": {"app", "litestar"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    modules = sorted((REPOSITORY / layer).rglob("*.py"))
    assert modules
    offending = {
        str(module.relative_to(REPOSITORY)): sorted(imported_packages(module) & FORBIDDEN[layer])
        for module in modules
    }
    assert {module: names for module, names in offending.items() if names} == {}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }


def test_the_edge_and_settings_know_no_domain() -> None:
    """A request reads one way, edge -> domain -> db -> geo: the edge (and the settings
    every layer reads) import no domain package of the app, and nothing reads app.state."""
    allowed = ("app.edge", "app.settings", "app.errors")
    for module in sorted((REPOSITORY / "app" / "edge").rglob("*.py")):
        from_app = {name for name in _imported_modules(module) if name.split(".")[0] == "app"}
        assert {name for name in from_app if not name.startswith(allowed)} == set(), module
    for module in sorted((REPOSITORY / "app").rglob("*.py")):
        assert ".state." not in module.read_text().replace("request_state", ""), module


def test_every_app_domain_has_its_sql_twin_in_db() -> None:
    """Rooms pair up by name: the SQL behind app/<domain>/ is db/<domain>.py."""
    # Health checks ask the engine and Redis directly; the map page is files, whose data
    # comes from the other endpoints.
    without_sql = {"ops", "map"}
    domains = {
        package.name
        for package in (REPOSITORY / "app").iterdir()
        if (package / "controller.py").exists() or (package / "reads.py").exists()
    }
    assert domains - without_sql <= {module.stem for module in (REPOSITORY / "db").glob("*.py")}


def test_a_cached_read_that_leaves_out_a_part_cannot_be_made() -> None:
    """A new map endpoint cannot forget its area or its rendering."""
    from app.edge.cached_reads import CachedRead

    class Forgetful(CachedRead[Any]):
        path = "/api/forgetful"

    with pytest.raises(TypeError, match="abstract"):
        Forgetful()  # type: ignore[abstract]
