"""A partner's "Enable with Segment" app in Python's standard library, for the conformance
kit's tests: what a partner writes from Segment's docs, in about a hundred lines.

Settings come from the environment, as `segment-sandbox conform --exec` gives them:
CLIENT_ID, CLIENT_SECRET, SEGMENT_ID_URL, SEGMENT_API_URL, REDIRECT_URL, and PORT.
MISTAKE switches on one usual mistake (or misbehaviour) at a time:
  no-state-check   the callback's state is not compared with the browser's
  one-state        one state for every flow, made at start (as Segment's Node example does)
  no-pkce          no code_challenge
  double-exchange  a reloaded callback exchanges its code again
  secret-in-form   the client secret in the token call's form, not HTTP Basic
  hang             the start page never answers
  error-500        every page is a 500
  redirect-loop    the start page redirects to itself
  no-cookies       no session cookie is set
Pages: /start (to Segment), /auth/segment/callback, /probe (reads the destination).
"""

import base64, hashlib, json, os, secrets, time, urllib.error, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENV = os.environ
MISTAKE = ENV.get("MISTAKE", "")
ID_URL, API_URL = ENV["SEGMENT_ID_URL"].rstrip("/"), ENV["SEGMENT_API_URL"].rstrip("/")
REDIRECT_URL = ENV["REDIRECT_URL"]
BASIC = "Basic " + base64.b64encode(f"{ENV['CLIENT_ID']}:{ENV['CLIENT_SECRET']}".encode()).decode()
ONE_STATE = secrets.token_urlsafe(24)
SESSIONS = {}  # session id -> {"state", "verifier", "token", "install", "destination"}


def segment(method, url, body=None, bearer=None):
    """One call to Segment: (status, JSON body, Retry-After); status 0 when it could not answer."""
    request = urllib.request.Request(url, data=body, method=method)
    if bearer or MISTAKE != "secret-in-form":
        request.add_header("Authorization", f"Bearer {bearer}" if bearer else BASIC)
    if body:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null"), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers.get("Retry-After")
    except (OSError, ValueError):
        return 0, None, None


class App(BaseHTTPRequestHandler):
    def page(self, status, text, cookie=None, location=None):
        body = f"<!doctype html><title>Partner</title><p>{text}</p>".encode()
        self.send_response(status)
        if cookie and MISTAKE != "no-cookies":
            self.send_header("Set-Cookie", f"sid={cookie}; Path=/; HttpOnly; SameSite=Lax")
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        cookies = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
        sid = cookies.get("sid")
        if sid not in SESSIONS:
            sid = secrets.token_urlsafe(16)
            SESSIONS[sid] = {}
        session = SESSIONS[sid]
        if MISTAKE == "error-500":
            return self.page(500, "Internal Server Error")
        if url.path == "/start":
            if MISTAKE == "hang":
                time.sleep(60)
            if MISTAKE == "redirect-loop":
                return self.page(302, "", sid, "/start")
            session["state"] = ONE_STATE if MISTAKE == "one-state" else secrets.token_urlsafe(24)
            session["verifier"] = secrets.token_urlsafe(48)
            params = {"response_type": "code", "client_id": ENV["CLIENT_ID"], "redirect_uri": REDIRECT_URL,
                      "scope": "destination/clearbrain", "state": session["state"]}
            if MISTAKE != "no-pkce":
                digest = hashlib.sha256(session["verifier"].encode()).digest()
                params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                params["code_challenge_method"] = "S256"
            return self.page(302, "", sid, f"{ID_URL}/oauth2/auth?{urllib.parse.urlencode(params)}")
        if url.path == "/auth/segment/callback":
            return self.callback(query, session, sid)
        if url.path == "/probe":
            return self.probe(session, sid)
        return self.page(200, '<a href="/start">Enable with Segment</a>', sid)

    def callback(self, query, session, sid):
        expected = ONE_STATE if MISTAKE == "one-state" else session.get("state")
        if MISTAKE != "no-state-check" and (not expected or query.get("state") != expected):
            return self.page(400, "This sign-in link is not yours, or was used already.", sid)
        if MISTAKE != "double-exchange":
            session.pop("state", None)
        if "error" in query:
            return self.page(403, "The workspace owner denied access: nothing was connected.", sid)
        form = {"grant_type": "authorization_code", "code": query.get("code", ""), "redirect_uri": REDIRECT_URL}
        if MISTAKE != "no-pkce":
            form["code_verifier"] = session.get("verifier", "")
        if MISTAKE == "secret-in-form":
            form.update(client_id=ENV["CLIENT_ID"], client_secret=ENV["CLIENT_SECRET"])
        status, body, _ = segment("POST", f"{ID_URL}/oauth2/token", urllib.parse.urlencode(form).encode())
        if status != 200:
            said = (body or {}).get("error_description", "")
            if "install already exists" in said:
                return self.page(409, "The App is already installed on this workspace, by another account.", sid)
            return self.page(502, "Segment did not connect this workspace. Try again.", sid)
        session.update(token=body["access_token"], install=body["install_name"],
                       destination=body["source_names"][0] + "/destinations/clearbrain")
        return self.page(302, "", sid, "/probe")

    def probe(self, session, sid):
        if "token" not in session:
            return self.page(401, 'Not connected: <a href="/start">Enable with Segment</a>', sid)
        for _ in range(3):
            status, body, retry_after = segment("GET", f"{API_URL}/v1beta/{session['destination']}", bearer=session["token"])
            if status == 401:  # expired (or the App was removed): one new token, then again
                status, body, _ = segment("GET", f"{API_URL}/v1beta/{session['install']}/token")
                if status != 200:
                    session.clear()
                    return self.page(200, 'Segment no longer knows this connection: <a href="/start">connect again</a>.', sid)
                session["token"] = body["access_token"]
            elif status == 429 and retry_after and int(retry_after) <= 5:
                time.sleep(int(retry_after))
            else:
                break
        if status in (200, 404):
            return self.page(200, "Destination: " + ("enabled" if (body or {}).get("enabled") else "not enabled"), sid)
        return self.page(502, f"Segment is unavailable ({status or 'no answer'}); try again in a minute.", sid)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(ENV.get("PORT", "8000"))), App).serve_forever()
