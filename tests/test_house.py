"""The house has no cycles: each module imports (at top level or inside a function) only modules exported
from lower-numbered notebooks, every numbered notebook has its own number, and the documentation's relative links name files that exist."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules():
    out = {}
    for p in sorted((ROOT / "hifi_nb").glob("*.py")):
        if p.name.startswith("_"): continue
        text = p.read_text(encoding="utf-8")
        m = re.search(r"File to edit: \.\./nbs/(\S+)\.ipynb", text)
        assert m, f"{p.name} is not exported from a notebook"
        deps = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                if node.module in (None, "hifi_nb"):                 # from . import x / from hifi_nb import x
                    if node.level == 1 or node.module == "hifi_nb": deps |= {a.name for a in node.names}
                elif node.level == 1: deps.add(node.module.split(".")[0])
                elif node.module.startswith("hifi_nb."): deps.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("hifi_nb.")}
        out[p.stem] = (m.group(1), deps - {p.stem})
    return out


def _number(nb: str) -> int:
    m = re.match(r"(\d+)_", nb)
    assert m, f"notebook {nb}.ipynb exports a module but has no number"
    return int(m.group(1))


def test_modules_import_only_lower_numbered_notebooks():
    mods = _modules()
    assert {"layers", "profiles", "tuning", "reproduce", "report"} <= set(mods)
    bad = [f"{k} ({nb}) imports {d} ({mods[d][0]})" for k, (nb, deps) in mods.items() for d in deps
           if d in mods and _number(mods[d][0]) >= _number(nb)]
    assert not bad, "; ".join(bad)


def test_no_import_cycle():
    mods = _modules()
    graph = {k: {d for d in deps if d in mods} for k, (_, deps) in mods.items()}
    state = {}
    def visit(n, path):
        if state.get(n) == "done": return
        assert state.get(n) != "open", "import cycle: " + " -> ".join(path + [n])
        state[n] = "open"
        for d in graph[n]: visit(d, path + [n])
        state[n] = "done"
    for n in graph: visit(n, [])


def test_notebook_numbers_are_unique():
    nums = {}
    for p in (ROOT / "nbs").glob("[0-9]*.ipynb"):
        nums.setdefault(_number(p.stem), []).append(p.name)
    assert all(len(v) == 1 for v in nums.values()), {k: v for k, v in nums.items() if len(v) > 1}

def _broken_links(md: Path) -> list[str]:
    "Relative markdown links `](target)` in `md` whose file is missing (web addresses and anchors are not checked)."
    out = []
    for m in re.finditer(r"\]\(([^)\s]+)\)", md.read_text()):
        target = m.group(1).split("#")[0]
        if target and not re.match(r"[a-z][a-z0-9+.-]*:", target) and not (md.parent / target).exists():
            out.append(target)
    return out

def test_markdown_links_resolve(tmp_path):
    "Every relative link in the README, the changelog and the results' notes names a file of the checkout."
    (tmp_path / "a.md").write_text("[ok](b.md) [web](https://x.org/y) [anchor](#z) [gone](results/none.md)\n")
    (tmp_path / "b.md").write_text("")
    assert _broken_links(tmp_path / "a.md") == ["results/none.md"]          # the checker itself
    docs = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "results").rglob("*.md"))]
    broken = {str(d.relative_to(ROOT)): b for d in docs if (b := _broken_links(d))}
    assert not broken, broken
