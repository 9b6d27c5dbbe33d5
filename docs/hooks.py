"""mkdocs hooks: the site is assembled from the repository at build time.

* ``<!-- include: PATH -->`` and ``<!-- include: PATH#Heading -->`` in a page
  insert a repository file (without its H1), or one section of it (the
  heading's body, up to the next heading of the same or a higher level; its
  subheadings move up one level; an H1's section is the lead text before the
  first subheading), so README text is written once. Links in the inserted text are
  resolved against the file's own folder: a file the site also carries becomes
  a link to its page, anything else becomes plain code text.
* Results are included by glob: every ``benchmarks/results/*.md`` and
  ``conformance/results/*.md`` becomes a page at its repository path (with the
  PNGs beside it); the nav entry ``generated:NAME`` and the line
  ``<!-- results: NAME -->`` in a page expand to them.
* ``api/<family>.md``: one page per ``lossapi.FAMILIES`` entry, each loss
  rendered from its docstring by mkdocstrings.
* ``gallery.md``: drawn by ``docs/gallery.py`` on every build.
* Every ```` ```python ```` block of a page runs, in page order, in one fresh
  Python process per page; a failing block fails the build. A block preceded
  by ``<!-- no-exec: REASON -->`` is shown but not run (for code that needs
  several processes or machines); the reason is required.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.hooks.lossapi")

RESULT_GLOBS = {
    "benchmarks": ["benchmarks/results/*.md"],
    "conformance": ["conformance/results/*.md"],
}
ASSET_GLOBS = ["benchmarks/results/*.png"]
# Repository files included whole into one hand-written page.
INCLUDED_AT = {"benchmarks/README.md": "benchmarks.md", "conformance/README.md": "conformance.md"}

INCLUDE = re.compile(r"^<!-- include: (?P<path>[^#\s]+)(?:#(?P<section>[^>]+?))? -->[ \t]*$", re.M)
RESULTS = re.compile(r"^<!-- results: (?P<name>\w+) -->[ \t]*$", re.M)
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*$")
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n]*)$")
NO_EXEC = re.compile(r"<!-- no-exec: (?P<reason>\S[^>]*?) -->\s*$")
EXEC_TIMEOUT_S = 600

_tmp = tempfile.TemporaryDirectory(prefix="lossapi-docs-")


def _lossapi():
    import lossapi

    return lossapi


# ------------------------------------------------------------------- pages
def _result_pages() -> dict[str, list[str]]:
    return {name: sorted(p for g in globs for p in glob(g, root_dir=ROOT)) for name, globs in RESULT_GLOBS.items()}


def _title(repo_path: str) -> str:
    for line in (ROOT / repo_path).read_text(encoding="utf-8").splitlines():
        m = HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return f"{Path(repo_path).stem}: {m.group(2)}"
    return Path(repo_path).stem


def _generated_nav(name: str) -> list[dict[str, str]]:
    if name == "api":
        return [{family.capitalize(): f"api/{family}.md"} for family in _lossapi().FAMILIES]
    if name in RESULT_GLOBS:
        return [{Path(p).stem: p} for p in _result_pages()[name]]
    raise PluginError(f"mkdocs.yml: unknown nav entry generated:{name}")


def _expand_nav(items: list) -> list:
    out: list = []
    for item in items:
        if isinstance(item, str) and item.startswith("generated:"):
            out += _generated_nav(item.split(":", 1)[1])
        elif isinstance(item, dict):
            out.append({k: _expand_nav(v) if isinstance(v, list) else
                        (_generated_nav(v.split(":", 1)[1]) if isinstance(v, str) and v.startswith("generated:") else v)
                        for k, v in item.items()})
        else:
            out.append(item)
    return out


def on_config(config):
    config.nav = _expand_nav(config.nav)
    return config


def _api_page(family: str) -> str:
    lossapi = _lossapi()
    mod = getattr(lossapi, family)
    doc = (mod.__doc__ or "").strip().split("\n\n")[0]
    lines = [f"# {family.capitalize()}", "", doc, "",
             f"`lossapi.{family}`: {len(lossapi.FAMILIES[family])} functions, each also `lossapi.<name>`. "
             "What every loss shares (reduction, shapes, dtypes, `where=`) is in [Conventions](../conventions.md); "
             "their shapes are drawn in the [gallery](../gallery.md).", ""]
    for name in lossapi.FAMILIES[family]:
        lines += [f"::: lossapi.{name}", ""]
    return "\n".join(lines)


def _gallery_link(family: str, name: str) -> str:
    return f"[`{name}`](api/{family}.md#lossapi.{name})"


def on_files(files, config):
    for family in _lossapi().FAMILIES:
        files.append(File.generated(config, f"api/{family}.md", content=_api_page(family)))
    for paths in _result_pages().values():
        for p in paths:
            files.append(File.generated(config, p, content=f"<!-- include: {p} -->\n"))
    for g in ASSET_GLOBS:
        for p in sorted(glob(g, root_dir=ROOT)):
            files.append(File.generated(config, p, abs_src_path=str(ROOT / p)))
    spec = importlib.util.spec_from_file_location("lossapi_docs_gallery", ROOT / "docs" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gallery  # dataclasses look their module up there
    spec.loader.exec_module(gallery)
    t0 = time.perf_counter()
    out = Path(_tmp.name) / "gallery"
    gallery_md, pngs = gallery.build(out, page_link=_gallery_link)
    log.info("gallery: %d figures in %.1f s", len(pngs), time.perf_counter() - t0)
    for png in pngs:
        files.append(File.generated(config, f"gallery/{png.name}", abs_src_path=str(png)))
    files.append(File.generated(config, "gallery.md", content=gallery_md))
    return files


# ---------------------------------------------------------------- includes
def _section(text: str, heading: str, source: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = HEADING.match(line)
        if m and m.group(2) == heading:
            # An H1's section is the file's lead text: up to the first heading.
            level = len(m.group(1)) if len(m.group(1)) > 1 else 6
            body = []
            fenced = False
            for rest in lines[i + 1:]:
                if FENCE.match(rest):
                    fenced = not fenced
                h = None if fenced else HEADING.match(rest)
                if h and len(h.group(1)) <= level:
                    break
                body.append(rest[1:] if h else rest)  # subheadings move up one level
            return "\n".join(body).strip("\n")
    raise PluginError(f"include: no heading {heading!r} in {source}")


def _whole(text: str, path: str, page_uri: str) -> str:
    """A whole file: as it is on its own page; inside another page without its
    H1 (the page has its own), the other headings as they are."""
    if path == page_uri:
        return text
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        h = None if fenced else HEADING.match(line)
        if h and len(h.group(1)) == 1:
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def _slug(heading: str) -> str:
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def _section_pages(config) -> dict[tuple[str, str], str]:
    """(repository file, heading slug) -> the page that includes that section."""
    out = {}
    for md in sorted(Path(config.docs_dir).glob("**/*.md")):
        for m in INCLUDE.finditer(md.read_text(encoding="utf-8")):
            if m.group("section"):
                out[(m.group("path"), _slug(m.group("section")))] = md.relative_to(config.docs_dir).as_posix()
    return out


def _escape_reference_links(text: str) -> str:
    """``name[a][b]`` in a results table is not a Markdown reference link
    (autorefs would try to resolve it): escape the brackets outside code spans."""
    defined = set(re.findall(r"^\[([^\]]+)\]:", text, flags=re.M))

    def esc(m: re.Match) -> str:
        return m.group(0) if m.group(2) in defined else m.group(0).replace("[", "\\[").replace("]", "\\]")

    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if fenced:
            out.append(line)
            continue
        parts = line.split("`")
        parts[::2] = [re.sub(r"\[([^\]\n]+)\]\[([^\]\n]*)\]", esc, p) for p in parts[::2]]
        out.append("`".join(parts))
    return "\n".join(out)


def _rewrite_links(text: str, source: str, page_uri: str, doc_uris: set[str],
                   sections: dict[tuple[str, str], str]) -> str:
    src_dir = posixpath.dirname(source)
    page_dir = posixpath.dirname(page_uri)

    def fix(m: re.Match) -> str:
        target = m.group("target")
        if target.startswith("#"):
            page = sections.get((source, target[1:]))
            if page is None or page == page_uri:
                return m.group(0)
            return f"{m.group('bang')}[{m.group('text')}]({posixpath.relpath(page, page_dir or '.')})"
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(src_dir, path))
        uri = INCLUDED_AT.get(repo_path, repo_path)
        if uri in doc_uris:
            rel = posixpath.relpath(uri, page_dir or ".")
            return f"{m.group('bang')}[{m.group('text')}]({rel}{'#' + anchor if anchor else ''})"
        # Not part of the site (source files, a missing figure): name it as text.
        return f"{m.group('text')} (`{repo_path}`)" if m.group("text") else f"`{repo_path}`"

    return LINK.sub(fix, text)


def _expand_includes(markdown: str, page_uri: str, doc_uris: set[str], sections: dict) -> str:
    def include(m: re.Match) -> str:
        path, section = m.group("path"), m.group("section")
        f = ROOT / path
        if not f.is_file():
            raise PluginError(f"{page_uri}: include of a missing file {path}")
        text = f.read_text(encoding="utf-8")
        body = _section(text, section.strip(), path) if section else _whole(text, path, page_uri)
        return _rewrite_links(_escape_reference_links(body), path, page_uri, doc_uris, sections)

    def results(m: re.Match) -> str:
        name = m.group("name")
        if name not in RESULT_GLOBS:
            raise PluginError(f"{page_uri}: unknown results list {name!r}")
        page_dir = posixpath.dirname(page_uri) or "."
        return "\n".join(f"- [{_title(p)}]({posixpath.relpath(p, page_dir)})" for p in _result_pages()[name])

    return RESULTS.sub(results, INCLUDE.sub(include, markdown))


# --------------------------------------------------------- executed blocks
def _python_blocks(markdown: str) -> list[tuple[int, str]]:
    """(line number, code) of each runnable ```python block."""
    blocks, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, indent = m.group("fence"), m.group("info").strip(), m.group("indent")
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        lang = info.split()[0].lstrip(".{").rstrip("}") if info else ""
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        if lang in ("python", "py") and not NO_EXEC.search(prev):
            code = "\n".join(line[len(indent):] for line in lines[i + 1:j])
            blocks.append((i + 1, code))
        i = j + 1
    return blocks


def _run_blocks(page_uri: str, blocks: list[tuple[int, str]]) -> None:
    parts = [f"print('--- block at line {n} of {page_uri}', flush=True)\n{code}\n" for n, code in blocks]
    with tempfile.TemporaryDirectory(prefix="lossapi-docs-exec-") as d:
        script = Path(d) / "page.py"
        script.write_text("\n".join(parts), encoding="utf-8")
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        t0 = time.perf_counter()
        try:
            r = subprocess.run([sys.executable, str(script)], cwd=d, env=env, capture_output=True, text=True,
                               timeout=EXEC_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise PluginError(f"{page_uri}: its code blocks ran past {EXEC_TIMEOUT_S} s") from e
        if r.returncode != 0:
            raise PluginError(f"{page_uri}: a code block failed (exit {r.returncode}):\n"
                              f"{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    log.info("%s: %d code blocks ran in %.1f s", page_uri, len(blocks), time.perf_counter() - t0)


def on_page_markdown(markdown, page, config, files):
    doc_uris = {f.src_uri for f in files}
    markdown = _expand_includes(markdown, page.file.src_uri, doc_uris, _section_pages(config))
    for line in markdown.splitlines():
        if "<!-- no-exec:" in line and not NO_EXEC.search(line):
            raise PluginError(f"{page.file.src_uri}: a no-exec marker needs a reason: {line.strip()}")
    blocks = _python_blocks(markdown)
    if blocks:
        _run_blocks(page.file.src_uri, blocks)
    return markdown


# ------------------------------------------------------------- docstrings
