#!/usr/bin/python3
# Browser half of tests/e2e/test_console.sh (needs Debian's python3-selenium, chromium and
# chromium-driver: run with /usr/bin/python3). Drives one headless Chromium through the web
# console, starts alice's two xfreerdp sessions itself (to time how soon her row appears), and
# prints one line per check: "PASS|name" or "FAIL|name", plus "MEASURE|key|value" lines.
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

E = os.environ
BASE = E["BASE"]                      # https://127.0.0.1:PORT
WORK = E["WORK"]
GWLOG = E["GWLOG"]
ART = E["ARTIFACTS"]
EVIL = "CONTOSO\\<img src=x onerror=alert(1)>"
results = []
procs = []


def check(name, cond):
    print(("PASS|" if cond else "FAIL|") + name, flush=True)
    results.append(bool(cond))
    return bool(cond)


def measure(key, value):
    print("MEASURE|%s|%s" % (key, value), flush=True)


def wait(fn, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        try:
            v = fn()
            if v:
                return v
        except WebDriverException:
            pass
        if time.monotonic() >= end:
            return None
        time.sleep(step)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def http(path, data=None, headers=None):
    """A request outside the browser: returns (status, body text)."""
    req = urllib.request.Request(BASE + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def http_noredirect(path, data, headers=None):
    op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX), NoRedirect)
    try:
        with op.open(urllib.request.Request(BASE + path, data=data, headers=headers or {}),
                     timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def xfreerdp(name, user, password, extra=()):
    log = open(os.path.join(WORK, name + ".log"), "w")
    args = ["timeout", "120", "xfreerdp", "/v:127.0.0.1:" + E["TPORT"],
            "/g:127.0.0.1:" + E["GPORT"], "/gu:" + user, "/gp:" + password, "/u:x", "/p:x",
            "/cert:ignore", "/gateway-usage-method:direct", "/log-level:INFO"] + list(extra)
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=dict(E, DISPLAY=E["XFR_DISPLAY"]))
    procs.append(p)
    with open(os.path.join(WORK, "py.pids"), "a") as f:
        f.write("%d\n" % p.pid)
    return p


def event_time(eid, user):
    """Wall-clock time of the first event line eid for user in the gateway's log."""
    pat = re.compile(r'^(\S+Z) tsgwd\[\d+\]: EVENT %d Username="%s"' %
                     (eid, re.escape(user.replace("\\", "\\\\"))))
    for line in open(GWLOG, errors="replace"):
        m = pat.match(line)
        if m:
            return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc).timestamp()
    return None


def rows_of(d, user):
    return [tr for tr in d.find_elements(By.CSS_SELECTOR, "#rows tr")
            if tr.get_attribute("data-user") == user]


def gone(el, timeout=10.0):
    """Waits until el left the document (the next page loaded). Chromium reports a replaced
    document's node either as stale or as not belonging to the document: both count."""
    def left():
        try:
            el.tag_name
            return False
        except WebDriverException:
            return True
    return wait(left, timeout)


def sign_in(d, user, password):
    d.get(BASE + "/console/login")
    d.find_element(By.ID, "username").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password)
    old = d.find_element(By.TAG_NAME, "html")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    gone(old)  # the answer page has loaded


def no_alert(d):
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def main(d):
    # -- not signed in: the console redirects to the sign-in form, the API says 401
    d.get(BASE + "/console/")
    check("not signed in: the sign-in form", d.current_url.endswith("/console/login") and
          d.find_element(By.ID, "username").get_attribute("name") == "username" and
          d.find_element(By.ID, "password").get_attribute("type") == "password")
    st, _ = http("/console/api/connections")
    check("not signed in: API answers 401", st == 401)

    # -- a wrong password: refused, logged as event 201
    sign_in(d, "CONTOSO\\admin", "wrong")
    check("wrong password: message on the sign-in page",
          "incorrect" in d.find_element(By.CSS_SELECTOR, ".msg.err").text)
    check("wrong password: event 201 logged",
          wait(lambda: 'ConnectionProtocol="Console"' in open(GWLOG).read(), 5))

    # -- a non-administrator: 403, sees nothing
    sign_in(d, "CONTOSO\\viewer", "ViewPw1")
    body = d.find_element(By.TAG_NAME, "body").text
    check("non-administrator: access denied page", "Access denied" in d.title and
          "not an administrator" in body and not d.find_elements(By.ID, "rows"))
    st, _ = http_noredirect("/console/login", b"username=CONTOSO%5Cviewer&password=ViewPw1")
    check("non-administrator: HTTP 403", st == 403)
    d.get(BASE + "/console/api/connections")
    check("non-administrator: no session (API 401)", "not signed in" in d.page_source)

    # -- the administrator
    sign_in(d, "CONTOSO\\admin", "AdminPw1")
    check("administrator: monitoring page", wait(
        lambda: d.current_url.endswith("/console/") and "connection" in
        d.find_element(By.ID, "totals").text, 10))
    cookie = d.get_cookie("__Host-tsgw-console")
    check("session cookie: Secure, HttpOnly, SameSite=Strict, expiring",
          cookie and cookie.get("secure") and cookie.get("httpOnly") and
          cookie.get("sameSite") == "Strict" and cookie.get("expiry"))
    csrf = wait(lambda: d.find_element(By.ID, "csrf").get_attribute("value"), 5)
    ck = "__Host-tsgw-console=" + cookie["value"]

    # bob and the user whose name is HTML are connected (the shell started them)
    bob = wait(lambda: rows_of(d, "CONTOSO\\bob"), 10)
    check("bob's session listed", bob)
    evil = wait(lambda: rows_of(d, EVIL), 10)
    check("HTML user name shown as text", evil and
          evil[0].find_element(By.CSS_SELECTOR, "td.user span").text == EVIL)
    check("HTML full name shown as text", evil and
          evil[0].find_element(By.CSS_SELECTOR, "td.user .sub").text ==
          "<b>Eve</b> <script>alert(2)</script>")
    check("no element injected, no alert", not d.find_elements(By.CSS_SELECTOR, "#rows img") and
          not d.find_elements(By.CSS_SELECTOR, "#rows b") and no_alert(d))
    if bob:
        cells = bob[0].find_elements(By.TAG_NAME, "td")
        labels = [c.get_attribute("data-label") for c in cells]
        text = bob[0].text
        check("row: user, client, resource:port over transport, times, KB, key",
              labels == ["User", "Client", "Resource", "Connected since", "Duration",
                         "Idle", "KB sent", "KB received", "Key", "Actions"] and
              "127.0.0.1:" + E["TPORT"] in text and "RDP over HTTP" in text and
              "Bob Builder" in text and re.search(r"\d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d", text)
              and "tunnel " in text)

    # -- alice connects twice; time until her first row appears
    t0 = time.time()
    a1 = xfreerdp("alice1", "CONTOSO\\alice", "Secret1")
    first = wait(lambda: rows_of(d, "CONTOSO\\alice"), 60, 0.02)
    t1 = time.time()
    check("alice's session appears without reloading", first)
    a2 = xfreerdp("alice2", "CONTOSO\\alice", "Secret1", ["/gt:http,no-websockets"])
    t302 = event_time(302, "CONTOSO\\alice")
    if first and t302:
        measure("row_after_client_start_ms", int((t1 - t0) * 1000))
        measure("row_after_channel_open_ms", int((t1 - t302) * 1000))
    check("alice's two sessions listed", wait(lambda: len(rows_of(d, "CONTOSO\\alice")) == 2, 60))
    check("totals: 3 users, 4 connections",
          wait(lambda: d.find_element(By.ID, "totals").text.startswith(
              "3 users, 4 connections"), 10))

    # -- filter and sort
    f = d.find_element(By.ID, "filter")
    f.send_keys("alice")
    check("filter by user", wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 2
                                 and "(2 shown)" in d.find_element(By.ID, "totals").text, 5))
    f.clear()
    f.send_keys(Keys.BACKSPACE)
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 4, 5)
    d.find_element(By.CSS_SELECTOR, "button[data-sort=UserName]").click()
    users = [tr.get_attribute("data-user") for tr in d.find_elements(By.CSS_SELECTOR, "#rows tr")]
    check("sort by user", users == sorted(users, key=str.lower) and
          d.find_element(By.CSS_SELECTOR, "th[data-col=UserName]").get_attribute("aria-sort")
          == "ascending")

    # -- screenshots: desktop and 1024 px, then phone width; no sideways scrolling at 1024
    os.makedirs(ART, exist_ok=True)
    d.set_window_size(1280, 800)
    time.sleep(0.3)
    d.save_screenshot(os.path.join(ART, "console.png"))
    d.set_window_size(1024, 768)
    time.sleep(0.3)
    d.save_screenshot(os.path.join(ART, "console-1024.png"))
    measure("width_at_1024", d.execute_script(
        "var s = document.querySelector('.scroll');"
        "return [innerWidth, s.clientWidth, s.scrollWidth].join(' ')"))
    check("1024 px: the table fits, no horizontal scrolling", d.execute_script(
        "var s = document.querySelector('.scroll');"
        "return document.documentElement.scrollWidth <= innerWidth && "
        "s.scrollWidth <= s.clientWidth"))
    d.set_window_size(390, 844)
    time.sleep(0.3)
    d.save_screenshot(os.path.join(ART, "console-phone.png"))
    check("phone width: rows become cards, no horizontal scrolling", d.execute_script(
        "return document.documentElement.scrollWidth <= innerWidth && "
        "getComputedStyle(document.querySelector('#conns thead')).display === 'none'"))
    d.set_window_size(1280, 800)
    measure("screenshot", os.path.join(ART, "console.png"))

    # -- keyboard: Enter on a Disconnect button opens the dialog, Escape cancels it
    bob = rows_of(d, "CONTOSO\\bob")
    btn = bob[0].find_element(By.CSS_SELECTOR, "button.dis-conn")
    d.execute_script("arguments[0].focus()", btn)
    btn.send_keys(Keys.ENTER)
    dlg = d.find_element(By.ID, "confirm")
    opened = wait(lambda: dlg.get_attribute("open") is not None, 3)
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    check("keyboard: Enter opens the confirmation, Escape cancels",
          opened and wait(lambda: dlg.get_attribute("open") is None, 3) and
          alive(int(E["BOB_PID"])))

    # -- a forged POST without the token is refused (in the page, with the cookie)
    st = d.execute_async_script(
        "var done = arguments[0];"
        "fetch('api/disconnect-user', {method: 'POST', credentials: 'same-origin',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'user=CONTOSO%5Cbob'}).then(function (r) { done(r.status); });")
    check("POST without the CSRF token: 403", st == 403)
    st, _ = http("/console/api/disconnect-user", b"user=CONTOSO%5Cbob",
                 {"Cookie": ck, "X-CSRF-Token": "0" * 64})
    check("POST with a wrong CSRF token: 403", st == 403)
    st, _ = http("/console/api/disconnect-user", b"user=CONTOSO%5Cbob",
                 {"Cookie": ck, "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    check("cross-origin POST with the right token: 403", st == 403)
    check("bob still connected after the forged requests", alive(int(E["BOB_PID"])))

    # -- Disconnect this user (alice), confirmed
    row = rows_of(d, "CONTOSO\\alice")[0]
    row.find_element(By.CSS_SELECTOR, "button.dis-user").click()
    wait(lambda: dlg.get_attribute("open") is not None, 3)
    text = d.find_element(By.ID, "confirm-text").text
    check("confirmation names who and how many",
          "CONTOSO\\alice" in text and "all 2 of the user's connections" in text and
          d.find_element(By.ID, "confirm-yes").text == "Disconnect 2 connections")
    d.find_element(By.ID, "confirm-yes").click()
    res = wait(lambda: "ReturnValue" in d.find_element(By.ID, "result").text and
               d.find_element(By.ID, "result").text, 10)
    check("result: ReturnValue = 0, 2 connections ended",
          res and "DisconnectUser(CONTOSO\\alice): ReturnValue = 0" in res and
          "2 connections ended" in res)
    ended = wait(lambda: a1.poll() is not None and a2.poll() is not None, 20)
    check("alice's xfreerdp clients are disconnected", ended)
    check("bob's session stays (client running, row listed)",
          alive(int(E["BOB_PID"])) and wait(lambda: not rows_of(d, "CONTOSO\\alice") and
                                            rows_of(d, "CONTOSO\\bob"), 10))
    check("event 202 for alice's two connections", wait(
        lambda: len(re.findall(r'EVENT 202 Username="CONTOSO\\\\alice".*Method="DisconnectUser"',
                               open(GWLOG).read())) == 2, 5))

    # -- a user gone between the question and the answer: 2147749890 shown
    row = rows_of(d, EVIL)[0]
    row.find_element(By.CSS_SELECTOR, "button.dis-user").click()
    wait(lambda: dlg.get_attribute("open") is not None, 3)
    st, body = http("/console/api/disconnect-user",
                    urllib.parse.urlencode({"user": EVIL}).encode(),
                    {"Cookie": ck, "X-CSRF-Token": csrf})
    check("another administrator disconnects the HTML-named user first",
          st == 200 and json.loads(body)["ReturnValue"] == 0)
    d.find_element(By.ID, "confirm-yes").click()
    res = wait(lambda: "ReturnValue" in d.find_element(By.ID, "result").text and
               d.find_element(By.ID, "result").text, 10)
    check("result: ReturnValue = 2147749890 (WBEM_E_NOT_FOUND)",
          res and "ReturnValue = 2147749890 (WBEM_E_NOT_FOUND)" in res and EVIL in res)
    check("still no alert", no_alert(d))

    # -- policy view
    d.find_element(By.CSS_SELECTOR, "nav a[data-view=policy]").click()
    check("policy view: CAPs, RAPs, groups, settings", wait(
        lambda: all(s in d.find_element(By.ID, "policy").text for s in
                    ("Connection authorization policies", "Staff", "Lab",
                     "Resource groups", "Server settings")), 10))

    # -- recent events, with filters
    d.find_element(By.CSS_SELECTOR, "nav a[data-view=events]").click()
    evrows = lambda: d.find_elements(By.CSS_SELECTOR, "#ev-rows tr")
    check("events view: recent events listed (202, 201, 302)", wait(
        lambda: all(s in d.find_element(By.ID, "ev-rows").text for s in
                    ("202", "201", "302", "CONTOSO\\alice", "Method=DisconnectUser")), 10))
    Select(d.find_element(By.ID, "ev-id")).select_by_value("202")
    check("events filter by id: only 202 (3 of them)", wait(
        lambda: len(evrows()) == 3 and all(
            tr.find_elements(By.TAG_NAME, "td")[1].text.startswith("202") for tr in evrows()),
        10))
    d.find_element(By.ID, "ev-filter").send_keys("alice")
    check("events filter by text: alice's two 202", wait(lambda: len(evrows()) == 2, 10))
    Select(d.find_element(By.ID, "ev-id")).select_by_value("")
    d.find_element(By.ID, "ev-filter").clear()
    d.find_element(By.ID, "ev-filter").send_keys("onerror")
    check("events: the HTML user name as text", wait(
        lambda: evrows() and all(EVIL in tr.text for tr in evrows()), 10) and
        not d.find_elements(By.CSS_SELECTOR, "#ev-rows img") and no_alert(d))
    d.find_element(By.CSS_SELECTOR, "nav a[data-view=monitoring]").click()

    # -- sign-out revokes the session
    old = d.find_element(By.TAG_NAME, "html")
    d.find_element(By.CSS_SELECTOR, "form.who button").click()
    gone(old)
    check("sign-out: back to the sign-in form", wait(
        lambda: d.current_url.endswith("/console/login") and d.find_elements(By.ID, "username"),
        5))
    st, _ = http("/console/api/connections", None, {"Cookie": ck})
    check("sign-out: the old cookie no longer works", st == 401)

    # -- sign-in failures are rate limited
    codes = [http_noredirect("/console/login",
                             ("username=CONTOSO%5Cadmin&password=bad" + str(i)).encode())[0]
             for i in range(6)]
    check("failed sign-ins: 401, then 429", codes[0] == 401 and codes[-1] == 429)
    check("rate limiting logged", "rate limited" in open(GWLOG).read())


def start_browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + os.path.join(WORK, "chromium"),
              "--ignore-certificate-errors", "--window-size=1280,800"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


if __name__ == "__main__":
    d = None
    try:
        d = start_browser()
        main(d)
        logs = d.get_log("browser")
        csp = [x for x in logs if "Content Security Policy" in x.get("message", "")]
        check("no Content-Security-Policy violation in the console", not csp)
        if csp:
            print("# " + json.dumps(csp)[:800])
    except Exception as e:  # a crash is a failure, reported as such
        check("browser test ran to the end (%s: %s)" % (type(e).__name__,
                                                         str(e).splitlines()[0][:200]), False)
    finally:
        if d:
            d.quit()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
    sys.exit(0 if all(results) else 1)
