"""Full-page screenshots of a running Provisioner, taken with Debian's Chromium.

Logs in through the real login form, then saves one PNG per path. For looking at pages of
`make run` (or any deployment you can log in to) without a desktop browser.

Usage:
    .venv/bin/python scripts/screenshot.py [options] PATH [PATH ...]

    PATH        a path on the server, e.g. /  /t/demo/  /t/demo/clients/new/?preset=nexeed
    --base-url  the server (default http://127.0.0.1:8000, as `make run` listens)
    --user      the user to log in as (default admin, as `make run` bootstraps)
    --password  the password; default $SCREENSHOT_PASSWORD, else asked for on the terminal
    --no-login  take the pages as an anonymous visitor
    --out       the folder for the PNGs (default var/screenshots)
    --dark      emulate prefers-color-scheme: dark
    --width, --height   the viewport (default 1280x900; the PNG is as tall as the page)
    --max-height PX     cut each PNG at PX pixels from the top (a very long page)
    --set NAME=VALUE    before each screenshot, choose VALUE (an option's label or value) in the
                select named NAME, or type it into the field named NAME; repeatable, in order,
                applied to every PATH (a page without such a field counts as a failure).
                The page's live updates (the device builder's preview) are waited for.

Example, with `make run` in another terminal:
    SCREENSHOT_PASSWORD=... .venv/bin/python scripts/screenshot.py / /t/demo/clients/ /t/demo/namespaces/
    SCREENSHOT_PASSWORD=... .venv/bin/python scripts/screenshot.py /t/demo/devices/new/ \
        --set "config=Sandbox Hono + Ditto" --set namespace=com.example.hono --set name=boiler-0042

Prints one line per page (HTTP status and the file written) and exits 1 when logging in
failed or a page answered 4xx/5xx (the PNG is saved anyway: it shows the error page).
Needs Playwright for Python (`make install`) and /usr/bin/chromium (scripts/ensure-browser.sh).
"""

import argparse
import getpass
import os
import re
import sys
from pathlib import Path
from urllib.parse import urljoin

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOGIN_PATH = "/accounts/login/"


def file_name(path, dark):
    """'/t/demo/clients/new/?preset=nexeed' -> 't-demo-clients-new-preset-nexeed.png'."""
    stem = re.sub(r"[^A-Za-z0-9_.]+", "-", path).strip("-") or "home"
    return f"{stem}{'-dark' if dark else ''}.png"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Log in to a running Provisioner and save full-page screenshots.",
        epilog="See the module docstring for examples.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="paths to capture, e.g. /t/demo/")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default=None, help="default: $SCREENSHOT_PASSWORD, else a prompt")
    parser.add_argument("--no-login", action="store_true", help="do not log in")
    parser.add_argument("--out", type=Path, default=Path("var/screenshots"))
    parser.add_argument("--dark", action="store_true", help="emulate prefers-color-scheme: dark")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--timeout", type=float, default=15, help="seconds per page (default 15)")
    parser.add_argument("--max-height", type=int, default=None, metavar="PX", help="cut each PNG at PX")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=setting,
        help="choose or type VALUE in the form field NAME before the screenshot (repeatable)",
    )
    return parser.parse_args(argv)


def setting(text):
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


# The device builder updates its preview 400 ms after the last change (hx-trigger "delay:400ms").
SETTLE_MS = 600


def fill_in(page, settings):
    """Choose or type each (name, value) of ``settings`` in the page's form, then let it settle."""
    for name, value in settings:
        field = page.locator(f"[name={name!r}]").first
        if not field.count():
            raise LookupError(f"{page.url} has no form field named {name!r}")
        if field.evaluate("element => element.tagName") == "SELECT":
            labels = [text.strip() for text in field.locator("option").all_inner_texts()]
            if value in labels:
                field.select_option(label=value)
            else:
                field.select_option(value)
        else:
            field.fill(value)
    if settings:
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring
        page.wait_for_timeout(SETTLE_MS)
        page.wait_for_load_state("networkidle")


def log_in(page, base_url, user, password):
    """Submit the login form; return an error message, or None when logged in."""
    page.goto(urljoin(base_url, LOGIN_PATH))
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) button[type=submit]").click()
    if LOGIN_PATH in page.url:
        alert = page.locator("[role=alert]")
        reason = alert.inner_text().strip() if alert.count() else "still on the login page"
        return f"logging in as {user!r} failed: {reason}"
    return None


def main(argv=None):
    args = parse_args(argv)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("Playwright for Python is missing: run `make install` and use .venv/bin/python.")
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is missing: run `bash scripts/ensure-browser.sh` (as root) to install it.")
    password = None
    if not args.no_login:
        password = (
            args.password
            or os.environ.get("SCREENSHOT_PASSWORD")
            or getpass.getpass(f"Password for {args.user}: ")
        )

    base_url = args.base_url.rstrip("/") + "/"
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": args.width, "height": args.height},
            color_scheme="dark" if args.dark else "light",
        )
        context.set_default_timeout(args.timeout * 1000)
        page = context.new_page()
        try:
            if password is not None:
                error = log_in(page, base_url, args.user, password)
                if error:
                    target = args.out / "login-failed.png"
                    page.screenshot(path=target, full_page=True)
                    sys.exit(f"{error} (see {target})")
            for path in args.paths:
                url = urljoin(base_url, path.lstrip("/"))
                response = page.goto(url, wait_until="networkidle")
                status = response.status if response else 0
                try:
                    fill_in(page, args.set)
                except LookupError as exc:
                    failures += 1
                    print(f"    --set not applied: {exc}")
                target = args.out / file_name(path, args.dark)
                clip = None
                if args.max_height:
                    height = min(args.max_height, page.evaluate("document.documentElement.scrollHeight"))
                    clip = {"x": 0, "y": 0, "width": args.width, "height": height}
                page.screenshot(path=target, full_page=True, clip=clip)
                bad = status >= 400 or (
                    password is not None and LOGIN_PATH in page.url and LOGIN_PATH not in url
                )
                failures += bad
                note = "  <- not logged in?" if bad and LOGIN_PATH in page.url else ""
                print(f"{status:>3} {path} -> {target}{note}")
        except PlaywrightError as exc:
            sys.exit(f"the browser failed: {str(exc).splitlines()[0]}")
        finally:
            context.close()
            browser.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
