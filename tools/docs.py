"""Build the documentation site from the notebooks into `_docs/` (`make docs`).

The steps of `nbdev_docs`, less its README step (README.md is made by tools/readme.py, `make readme`):
nbdev.yml and the sidebar from settings.ini, nbdev's notebook processors into `_proc/` (front matter, `show_doc`
for every exported function and class, hidden cells and export directives removed), then `quarto render` there
and `_proc/_docs` moved to `_docs/`.

Quarto ships only as a binary: `make docs` first tries `pip install quarto-cli` into the venv (the PyPI
package is an sdist that downloads the binary from GitHub while it is built). Where that cannot be had, this
script says so and renders the same processed notebooks with nbconvert instead (`--fallback`: one HTML page per
notebook and an index page; no search, no cross-links), so the docs can still be read and the processing
(every `show_doc`) is still checked. `--quarto` makes a missing quarto an error.
"""
import argparse
import ast
import html
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbdev.processors
from nbdev.config import get_config
from nbdev.frontmatter import _fm2dict
from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml
from nbdev.serve import proc_nbs


_nbdev_do_eval = nbdev.processors._do_eval

def _do_eval(cell):
    """nbdev's rule for which cells to run before `show_doc`, less one case: it also runs every cell that has an
    import *and* other code (warning "Found cells containing imports and other code"). Here those are this
    project's tests and examples (the import of `test_eq` beside the checks, a tiny model trained beside its
    imports), which need the cells before them and would train models while the docs build. `show_doc` needs
    only the exported cells and the import-only cells, which still run."""
    if cell.cell_type == "code" and cell.source and not (cell.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}):
        trees = cell.parsed_()
        if (trees and nbdev.processors._ast_contains(trees, (ast.Import, ast.ImportFrom))
                and nbdev.processors._ast_contains(trees, (ast.Expr, ast.Assign))
                and not nbdev.processors._show_docs(trees)): return None
    return _nbdev_do_eval(cell)


def _title(nb_path: Path) -> str:
    import json
    for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "raw" and src.startswith("---"):
            for line in src.splitlines():
                if line.startswith("title:"): return line.split(":", 1)[1].strip().strip("'\"")
        if c["cell_type"] == "markdown" and src.startswith("# "): return src.splitlines()[0][2:].strip()
    return nb_path.stem


def _nbconvert(cache: Path, out: Path) -> list[Path]:
    "One HTML page per processed notebook (nbconvert's lab template), and an index page linking them."
    from nbconvert import HTMLExporter
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor
    exporter = HTMLExporter(template_name="lab")
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"hide-input"}, enabled=True), enabled=True)
    pages = []
    for nb_path in sorted(cache.rglob("*.ipynb")):
        rel = nb_path.relative_to(cache)
        if any(p.startswith(("_", ".")) for p in rel.parts): continue
        nb = nbformat.read(nb_path, as_version=4)
        cells = []
        for c in nb.cells:
            if c.cell_type == "raw":                                   # the YAML front matter: title + description
                fm = _fm2dict(c.source)
                if fm.get("title"):
                    cells.append(nbformat.v4.new_markdown_cell(f"# {fm['title']}" + (f"\n\n> {fm['description']}" if fm.get("description") else "")))
                continue
            if c.cell_type == "code":
                lines = c.source.splitlines()
                if any(l.replace(" ", "") == "#|echo:false" for l in lines): c.metadata.setdefault("tags", []).append("hide-input")
                c.source = "\n".join(l for l in lines if not l.lstrip().startswith("#|"))
                if not c.source.strip() and not c.get("outputs"): continue
            cells.append(c)
        nb.cells = cells
        body, _ = exporter.from_notebook_node(nb)
        dst = out / rel.with_suffix(".html")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(body, encoding="utf-8")
        pages.append((rel, _title(nb_path), dst))
    items = "\n".join(f'<li><a href="{html.escape(str(r.with_suffix(".html")))}">{html.escape(t)}</a> '
                      f'<code>{html.escape(str(r))}</code></li>' for r, t, _ in pages if r.stem != "index")
    cfg = get_config()
    (out / "contents.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(cfg.title)}</title>"
        f"<h1>{html.escape(cfg.title)}</h1><p>{html.escape(cfg.description)}</p>"
        f"<p><a href='index.html'>README (index)</a></p><ul>\n{items}\n</ul>\n", encoding="utf-8")
    return [p for _, _, p in pages]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quarto", action="store_true", help="fail unless quarto renders the site")
    g.add_argument("--fallback", action="store_true", help="render with nbconvert even where quarto is found")
    a = ap.parse_args(argv)
    t0 = time.time()
    cfg = get_config()
    nbs, docs = cfg.nbs_path, cfg.doc_path
    quarto = None if a.fallback else shutil.which("quarto")
    if a.quarto and not quarto: sys.exit("quarto not found on PATH (make docs installs it with pip where it can)")
    refresh_quarto_yml()                                 # nbs/nbdev.yml from settings.ini; nbs/_quarto.yml is ours
    nbdev_sidebar.__wrapped__(path=nbs)                  # nbs/sidebar.yml (ignored by git)
    nbdev.processors._do_eval = _do_eval                 # in this process: n_workers=0 runs the notebooks here
    cache = proc_nbs(nbs, n_workers=0)                   # _proc/: nbdev's processors, show_doc cells executed
    print(f"processed the notebooks into {cache.relative_to(cfg.config_path)} ({time.time() - t0:.0f} s)")
    shutil.rmtree(docs, ignore_errors=True)
    if quarto:
        subprocess.run(["quarto", "render", "--no-cache"], cwd=cache, check=True)
        shutil.move(str(cache / docs.name), str(cfg.config_path))
        how = "quarto"
    else:
        print("quarto is not available here: rendering the processed notebooks with nbconvert instead "
              "(plain pages, no search; the quarto site needs the quarto binary)")
        docs.mkdir(parents=True)
        pages = _nbconvert(cache, docs)
        print(f"{len(pages)} pages")
        how = "nbconvert (fallback)"
    n = sum(1 for p in docs.rglob("*.html"))
    print(f"docs: {docs.relative_to(cfg.config_path)}/ by {how}, {n} HTML files, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
