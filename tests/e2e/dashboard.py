"""The dashboard in a real browser (Playwright driving Debian's chromium).

Usage: dashboard.py BASE_URL TOKEN SECRET [SCREENSHOT_DIR]

Prints one `ok <scenario>` line per scenario that passed; fails (non-zero)
at the first that does not. With SCREENSHOT_DIR, saves a picture of each
page there (the ones in docs/dashboard.md).
"""

import json
import os
import re
import sys
import urllib.request

from playwright.sync_api import expect, sync_playwright

BASE, TOKEN, SECRET = sys.argv[1], sys.argv[2], sys.argv[3]
SHOTS = sys.argv[4] if len(sys.argv) > 4 else None
PATIENCE_MS = 60_000
expect.set_options(timeout=PATIENCE_MS)


def call(path, body=None, token=TOKEN):
    """Calls the API as any client would (POST with a body); its JSON."""
    request = urllib.request.Request(
        BASE + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def submit(body, token=TOKEN):
    """POSTs a task; its JSON."""
    return call("/api/v1/tasks", body, token)


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def ok(what):
    print("ok", what, flush=True)


def open_page(page, name):
    """Follows the navigation link `name` and waits until the router shows
    its page: the hash changes at the click, but the old page's fields stay
    until the router replaces them (with the title), so a label looked up
    before then can find the old page's field instead."""
    page.locator("#nav").get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_title(f"{name} · llmhost")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(PATIENCE_MS)

    # Everything the browser fetches, to look for secrets in afterwards.
    bodies, urls, failures = [], [], []
    page.on("request", lambda r: urls.append(r.url))
    page.on("pageerror", lambda e: failures.append(str(e)))

    def keep(response):
        if response.url.startswith(BASE) and "event-stream" not in response.headers.get("content-type", ""):
            try:
                bodies.append((response.url, response.text()))
            except Exception:  # a body the browser already dropped
                pass

    page.on("response", keep)

    # 1. Log in with a token: a wrong one is refused, the right one opens the overview.
    page.goto(BASE + "/ui")
    expect(page.get_by_label("API token")).to_be_visible()
    shot(page, "login")
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unauthorized")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("[data-count=completed] .n")).to_have_text("0")
    ok("login")

    # 2. Submit in the playground and see the answer stream in.
    open_page(page, "Playground")
    page.get_by_label("Provider").select_option("echo")
    page.get_by_label("Model", exact=True).fill("echo-drip:150")
    words = "alpha beta gamma delta epsilon zeta eta theta"
    page.get_by_label("Message").fill(words)
    page.get_by_role("button", name="Send").click()
    answer = page.locator("[data-answer]")
    # Part of the text while the task still runs: it streams.
    page.wait_for_function(
        """(full) => {
            const a = document.querySelector('[data-answer]');
            const s = document.querySelector('[data-pg-status]');
            return a && s && s.textContent === 'running' && a.textContent.length > 0
                && a.textContent.length < full.length && full.startsWith(a.textContent);
        }""",
        arg=words,
    )
    expect(answer).to_have_text(words)
    expect(page.locator("[data-pg-status]")).to_have_text("completed")
    task_id = page.locator("#pg-log a").first.inner_text().removeprefix("task ")
    shot(page, "playground")
    ok("playground streams")

    # 3. Find it in the task list by filter (model), then by id.
    open_page(page, "Tasks")
    page.get_by_label("Model").fill("echo-drip:150")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"tr[data-task='{task_id}']")).to_be_visible()
    expect(page.locator("#tasks-table tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Task id or idempotency key").fill(task_id)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#tasks-table tbody tr")).to_have_count(1)
    shot(page, "tasks")
    ok("task list filter")

    # 4. Its detail shows its input and its attempts.
    page.get_by_role("link", name=task_id).click()
    expect(page.locator("#task-status [data-status=completed]")).to_be_visible()
    expect(page.locator("#attempts-table tbody tr")).to_have_count(1)
    expect(page.locator("#attempts-table tbody tr")).to_contain_text("completed")
    expect(page.locator(".msg").first).to_contain_text(words)
    shot(page, "task")

    # A task over a route whose first target fails: each target it tried is
    # a row of the server's attempt log, with its outcome, duration and error.
    routed = submit({"model": "flaky", "prompt": "routed", "max_attempts": 1})
    page.goto(f"{BASE}/ui#/tasks/{routed['task_id']}")
    expect(page.locator("#task-status [data-status=completed]")).to_be_visible()
    rows = page.locator("#attempts-table tbody tr")
    expect(rows).to_have_count(2)
    first, second = rows.nth(0), rows.nth(1)
    expect(first).to_have_attribute("data-target", "echo/echo-error:rate_limited")
    expect(first.locator("[data-status]")).to_have_text("failed")
    expect(first).to_contain_text("rate_limited")
    expect(second).to_have_attribute("data-target", "echo/echo")
    expect(second.locator("[data-status]")).to_have_text("completed")
    for row in (first, second):
        # Attempt number 1, a duration and a time to first token in ms.
        expect(row.locator("td").nth(0)).to_have_text("1")
        expect(row.locator("td").nth(3)).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    expect(second.locator("td").nth(4)).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    ok("task detail attempts")

    # 5. Cancel a running task from its page; the status changes without reloading.
    slow = submit({"provider": "echo", "model": "echo-slow:600000", "prompt": "wait", "timeout_ms": 600000})
    page.goto(f"{BASE}/ui#/tasks/{slow['task_id']}")
    expect(page.locator("#task-status [data-status=running]")).to_be_visible()
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#task-status [data-status=cancelled]")).to_be_visible()
    assert navigations == [], f"the page reloaded: {navigations}"
    ok("cancel running")

    # 6. A failed task shows its error code and message.
    failed = submit({"provider": "echo", "model": "echo-error:invalid_request", "prompt": "x", "max_attempts": 1})
    page.goto(f"{BASE}/ui#/tasks/{failed['task_id']}")
    expect(page.locator("#task-status [data-status=failed]")).to_be_visible()
    expect(page.locator("#task-error")).to_contain_text("invalid_request")
    expect(page.locator("#task-error")).to_contain_text("echo was asked to fail")
    shot(page, "task-failed")
    ok("failed task error")

    # 7. The providers page lists the broken plugin with its reason.
    open_page(page, "Providers")
    refused = page.locator("[data-refused=broken]")
    expect(refused).to_contain_text("broken.wasm")
    reason = refused.inner_text().split(":", 1)[1].strip()
    assert reason, "a reason"
    expect(page.locator("[data-provider=vendor]")).to_be_visible()
    ok("providers broken plugin")

    # Each instance's limits and egress; its secret header by origin and name only;
    # a component loaded without a manifest says so.
    egress = page.locator("[data-egress=vendor]")
    expect(egress).to_contain_text("http://127.0.0.1:9")
    expect(egress).to_contain_text("authorization for http://127.0.0.1:9 (value hidden)")
    expect(page.locator("[data-limits=vendor] [data-limit=memory_bytes]")).to_have_text("64 MiB")
    expect(page.locator("[data-limits=echo] [data-limit=max_output_bytes]")).to_have_text("1 MiB")
    expect(page.locator("[data-warning=echo]")).to_contain_text("manifest")
    ok("providers limits egress warnings")

    # The conformance button runs the suite against the loaded instance and shows the report.
    page.get_by_role("button", name="Run conformance on echo").click()
    report = page.locator("[data-conformance=echo]")
    expect(report.locator("[data-summary]")).to_contain_text(re.compile(r"^\d+ passed, 0 failed, \d+ not applicable"))
    rows = report.locator("tbody tr")
    assert rows.count() > 5, f"only {rows.count()} cases"
    expect(report.locator("tr[data-result=pass]").first).to_contain_text("pass")
    shot(page, "providers")
    ok("conformance button")

    # Keys and usage: a tenant's key with its limits, and what it used.
    key = call("/api/v1/keys", {"name": "team-a", "models": ["echo/*"], "rpm": 600, "tpm": 200000,
                                "max_parallel": 8, "budget_usd": 50, "budget_period": "30d"})
    keyed = submit({"provider": "echo", "model": "echo", "prompt": "from team a"}, token=key["key"])
    for _ in range(600):
        if call(f"/api/v1/tasks/{keyed['task_id']}", token=key["key"])["status"] == "completed":
            break
        page.wait_for_timeout(100)
    open_page(page, "Keys")
    row = page.locator("#keys-table tr[data-key=team-a]")
    expect(row.locator("[data-limit=rpm]")).to_have_text("600")
    expect(row.locator("[data-limit=tpm]")).to_have_text("200000")
    expect(row.locator("[data-limit=max_parallel]")).to_have_text("8")
    expect(row.locator("[data-limit=budget]")).to_contain_text("$50.00 per 30d")
    expect(row.locator("[data-used=requests]")).to_have_text("1")
    expect(row).to_contain_text(key["prefix"])
    page.get_by_label("key", exact=True).check()
    page.get_by_role("button", name="Show usage").click()
    expect(page.locator("#usage-table tbody tr", has_text="team-a")).to_have_count(1)
    expect(page.locator("#usage-table [data-usage-total]")).to_be_visible()
    shot(page, "keys")
    ok("keys and usage")

    # The overview has counted what happened, live.
    open_page(page, "Overview")
    expect(page.locator("[data-count=completed] .n")).to_have_text("3")
    expect(page.locator("[data-count=failed] .n")).to_have_text("1")
    expect(page.locator("[data-count=cancelled] .n")).to_have_text("1")
    expect(page.locator(".chart svg").first).to_be_visible()
    # Time to first token per provider, drawn and in the table.
    expect(page.locator("#first-token-chart svg rect").first).to_be_visible()
    expect(page.locator("[data-first-token-p50=echo]")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    shot(page, "overview")
    ok("overview counts")

    # The overview is live: a task submitted meanwhile is counted without a reload.
    # (The cancel scenario's listener appends to whatever `navigations` is now.)
    navigations = []
    submit({"provider": "echo", "model": "echo", "prompt": "counted live"})
    expect(page.locator("[data-count=completed] .n")).to_have_text("4")
    assert navigations == [], f"the page reloaded: {navigations}"
    ok("overview live")

    # The routes page: the route `flaky`, its strategy and targets, and what this
    # process has seen of each (the routed task above failed on the first once).
    open_page(page, "Routes")
    flaky = page.locator("[data-route=flaky]")
    expect(flaky.get_by_role("heading")).to_contain_text("flaky fallback")
    targets = flaky.locator("tbody tr")
    expect(targets).to_have_count(2)
    first, second = targets.nth(0), targets.nth(1)
    expect(first.locator("td").nth(0)).to_have_text("echo/echo-error:rate_limited")
    expect(first.locator("td").nth(1)).to_have_text("target")
    expect(first).to_contain_text("failures total: 1")
    expect(first.locator("[data-health=cooldown_left_ms]")).to_have_text(re.compile(r"^cooldown left: (—|\d+(\.\d+)? m?s)$"))
    expect(second.locator("[data-health=latency_ms]")).to_have_text(re.compile(r"^latency: \d+(\.\d)? m?s$"))
    expect(second.locator("td").nth(0)).to_have_text("echo/echo")
    expect(second).to_contain_text("failures total: 0")
    expect(second).to_contain_text("state: healthy")
    expect(flaky.locator("p .chip", has_text="rate_limited")).to_have_count(1)  # a code that falls back
    shot(page, "routes")
    ok("routes page")

    # The playground over a route: its alias is the model; the answer comes from
    # the target that answered.
    open_page(page, "Playground")
    page.get_by_label("Provider").select_option("route:flaky")
    expect(page.get_by_label("Model", exact=True)).to_have_value("flaky")
    page.get_by_label("Message").fill("over the route")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-answer]")).to_have_text("over the route")
    expect(page.locator("[data-pg-status]")).to_have_text("completed")
    route_task = page.locator("#pg-log a").first.inner_text().removeprefix("task ")

    # The task list by route: the two tasks over `flaky` (the attempts scenario's
    # and this one), nothing else.
    open_page(page, "Tasks")
    page.get_by_label("Route").fill("flaky")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#tasks-table tbody tr")).to_have_count(2)
    expect(page.locator(f"tr[data-task='{route_task}']")).to_be_visible()
    expect(page.locator(f"tr[data-task='{routed['task_id']}']")).to_be_visible()
    open_page(page, "Playground")

    # A model that calls tools: the call is shown with its arguments.
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Provider").select_option("echo")
    page.get_by_label("Model", exact=True).fill("echo-tools")
    page.get_by_text("Tools (JSON)").click()
    page.get_by_label("Tools the model may call").fill(json.dumps(
        [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]))
    page.get_by_label("Message").fill("Oslo")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-pg-status]")).to_have_text("completed")
    call_shown = page.locator(".tool-call")
    expect(call_shown).to_have_count(1)
    expect(call_shown).to_contain_text("get_weather")
    expect(call_shown).to_contain_text("Oslo")
    ok("playground route, task list by route, tool call")

    # A running task's page shows its text growing before it completes.
    long_words = " ".join(f"word{i}" for i in range(40))
    dripping = submit({"provider": "echo", "model": "echo-drip:150", "prompt": long_words})
    page.goto(f"{BASE}/ui#/tasks/{dripping['task_id']}")
    page.wait_for_function(
        """(full) => {
            const t = document.querySelector('#live-text');
            const s = document.querySelector('#task-status [data-status]');
            return t && s && s.dataset.status === 'running' && t.textContent.length > 0
                && t.textContent.length < full.length && full.startsWith(t.textContent);
        }""",
        arg=long_words,
    )
    expect(page.locator("#task-status [data-status=completed]")).to_be_visible()
    expect(page.locator("#task-result pre").first).to_have_text(long_words)
    ok("task detail live text")

    # Resubmit from a failed task's page: a new task, whose page opens.
    page.goto(f"{BASE}/ui#/tasks/{failed['task_id']}")
    expect(page.locator("#task-status [data-status=failed]")).to_be_visible()
    page.get_by_role("button", name="Resubmit as new task").click()
    expect(page).not_to_have_url(re.compile(re.escape(failed["task_id"]) + "$"))
    expect(page).to_have_url(re.compile(r"#/tasks/[^/]+$"))
    resubmitted = page.url.rsplit("/", 1)[1]
    assert resubmitted != failed["task_id"]
    expect(page.get_by_role("heading", level=1)).to_contain_text(resubmitted)
    expect(page.locator("dl.facts").first).to_contain_text(f'"resubmitted_from":"{failed["task_id"]}"')
    expect(page.locator("#task-status [data-status=failed]")).to_be_visible()
    expect(page.locator("#task-error")).to_contain_text("invalid_request")
    ok("resubmit")

    # Phone width, dark: every page still shows its heading.
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    for route, heading in [("overview", "Overview"), ("tasks", "Tasks"), ("providers", "Providers"),
                           ("routes", "Routes"), ("keys", "Keys and usage"), ("playground", "Playground")]:
        page.goto(f"{BASE}/ui#/{route}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        if route == "overview":
            expect(page.locator(".chart svg").first).to_be_visible()
            shot(page, "overview-phone-dark")
    ok("phone dark")

    # Keyboard: the skip link, then the navigation, reachable by Tab.
    page.reload()
    expect(page.get_by_role("heading", name="Playground")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#nav a").first).to_be_focused()
    ok("keyboard")

    # 3 (of the issue). No secret value in any page or asset, and the token in no URL.
    for name in ["index.html", "style.css", "app.js", "api.js", "dom.js", "actions.js", "charts.js",
                 "overview.js", "tasks.js", "task.js", "providers.js", "routes.js", "keys.js", "playground.js",
                 "icon.svg"]:
        bodies.append((name, page.request.get(f"{BASE}/ui/{name}").text()))
    loaded = {"overview": ".chart svg", "tasks": "#tasks-table", "providers": "[data-provider=vendor]",
              "routes": "[data-route=flaky]", "keys": "#keys-table", "playground": "#pg-model", f"tasks/{task_id}": "#attempts-table"}
    for route, shown in loaded.items():
        page.goto(f"{BASE}/ui#/{route}")
        expect(page.locator(shown).first).to_be_visible()
        bodies.append((route, page.content()))
    # The provider's secret, and the tenant's key, which only its creation showed.
    leaks = [url for url, text in bodies if SECRET in text or key["key"] in text]
    assert not leaks, f"a secret is in {leaks}"
    assert not [u for u in urls if TOKEN in u], "the token was in a URL"
    assert len(bodies) > 20, f"only {len(bodies)} bodies were checked"
    ok("no secret")
    assert not failures, f"page errors: {failures}"
    browser.close()
