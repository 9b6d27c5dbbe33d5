"""Look at the built site in a real headless browser.

    python docs/check_site.py site [--shots DIR]

Serves SITE on a loopback port and opens every page in Debian's headless
Chromium (/usr/bin/chromium, driven by Playwright; no browser is
downloaded). Checks that each page loads with a title and an article heading
and without a page error, that every image on it has loaded
(``naturalWidth > 0``), that nothing is requested from outside the
site (such requests are blocked and reported), that the gallery shows one figure per loss, that the
API pages carry one entry per loss, and that the search box finds "huber".
Saves screenshots into --shots (default: a temporary folder, printed).
Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]
TIMEOUT_MS = 30_000


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages(root: Path) -> list[str]:
    return sorted(p.parent.relative_to(root).as_posix() + "/" if p.parent != root else ""
                  for p in root.glob("**/index.html") if "assets" not in p.parts and "search" not in p.parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path)
    ap.add_argument("--shots", type=Path, default=None)
    ap.add_argument("--query", default="huber")
    args = ap.parse_args()
    if not (args.site / "index.html").is_file():
        print(f"check_site: no {args.site}/index.html; build the site first (nox -s docs)")
        return 1
    shots = args.shots or Path(tempfile.mkdtemp(prefix="lossapi-site-shots-"))
    shots.mkdir(parents=True, exist_ok=True)
    n_figures = len(list((args.site / "gallery").glob("*.png")))

    from playwright.sync_api import sync_playwright

    failures: list[str] = []
    server, base = serve(args.site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            outside: list[str] = []

            def local_only(route) -> None:  # the site must load nothing from outside itself
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.on("pageerror", lambda e: errors.append(str(e)))
            # ERR_ABORTED: cancelled by the next navigation (the favicon) or
            # blocked above; a cancelled image still shows as not loaded.
            page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else
                    errors.append(f"request failed: {r.url} ({r.failure})"))
            n_images = api_entries = 0
            for uri in pages(args.site):
                errors.clear()
                resp = page.goto(base + uri, wait_until="load")
                status = resp.status if resp else None
                title = page.title()
                h1 = page.locator("article h1").count()
                images = page.evaluate("""() => Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])""")
                broken = [src for src, ok in images if not ok]
                n_images += len(images)
                api_entries += page.locator("h2.doc-heading[id^='lossapi.']").count()
                if status != 200 or not title or h1 < 1 or broken or errors:
                    failures.append(f"{uri or '/'}: status {status}, title {title!r}, {h1} h1, broken images {broken},"
                                    f" errors {errors}")
                if uri == "gallery/":
                    shown = page.locator("article img[alt$=': value and derivative']").count()
                    if shown != n_figures or shown == 0:
                        failures.append(f"gallery: {shown} figures shown, {n_figures} drawn")
                    page.screenshot(path=str(shots / "gallery.png"))
                    page.locator("article img[alt^='huber:']").scroll_into_view_if_needed()
                    page.screenshot(path=str(shots / "gallery-huber.png"))
                elif uri == "":
                    page.screenshot(path=str(shots / "home.png"))
                elif uri == "api/regression/":
                    page.screenshot(path=str(shots / "api-regression.png"))
            if outside:
                failures.append(f"requests outside the site (blocked): {sorted(set(outside))}")
            print(f"check_site: {len(pages(args.site))} pages, {n_images} images loaded, "
                  f"{api_entries} API entries, {n_figures} gallery figures")

            # The search: type the query into Material's search box.
            page.goto(base, wait_until="load")
            box = page.locator("input.md-search__input")
            box.click()
            box.press_sequentially(args.query, delay=50)
            results = page.locator(".md-search-result__item")
            try:
                results.first.wait_for(state="visible")
            except Exception as e:  # noqa: BLE001 - reported as a failure below
                failures.append(f"search {args.query!r}: no result appeared ({type(e).__name__})")
            n_results = results.count()
            text = page.locator(".md-search-result").inner_text() if n_results else ""
            if args.query.lower() not in text.lower():
                failures.append(f"search {args.query!r}: {n_results} results, none mentions it")
            page.screenshot(path=str(shots / "search.png"))
            print(f"check_site: search {args.query!r}: {n_results} results")
            browser.close()
    finally:
        server.shutdown()
    print(f"check_site: screenshots in {shots}")
    for f in failures:
        print(f"FAIL {f}")
    print("check_site: " + ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
