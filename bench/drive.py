"""Drives a sandbox-mode app at BASE: FLOWS install flows (each a new browser), then PAGES
destination pages and PAGES monitor pages in the last browser. Prints counts."""
import re, sys, html
import requests
base = sys.argv[1]; flows = int(sys.argv[2]); pages = int(sys.argv[3])

def form_fields(page):
    fields = {}
    for m in re.finditer(r'<input[^>]*type="hidden"[^>]*>', page):
        tag = m.group(0)
        name = re.search(r'name="([^"]*)"', tag); value = re.search(r'value="([^"]*)"', tag)
        if name: fields[name.group(1)] = html.unescape(value.group(1) if value else "")
    return fields

def first_option(page, name):
    m = re.search(r'<select[^>]*name="%s"[^>]*>(.*?)</select>' % name, page, re.S)
    if not m: return None
    o = re.search(r'<option[^>]*value="([^"]*)"', m.group(1))
    return html.unescape(o.group(1)) if o else None

def flow():
    s = requests.Session()
    r = s.get(base + "/auth/segment", allow_redirects=False)
    assert r.status_code == 303, r.status_code
    consent_url = r.headers["location"]
    if consent_url.startswith("/"): consent_url = base + consent_url
    page = s.get(consent_url).text
    action = re.search(r'<form[^>]*action="([^"]*)"', page).group(1)
    fields = form_fields(page)
    ws = first_option(page, "workspace")
    if ws is not None: fields["workspace"] = ws
    src = first_option(page, "source")
    if src is not None: fields["source"] = src
    fields["decision"] = "allow"
    url = action if action.startswith("http") else requests.compat.urljoin(consent_url, action)
    r = s.post(url, data=fields, allow_redirects=False)
    cb = r.headers["location"]
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return s

s = None
for _ in range(flows):
    s = flow()
for _ in range(pages):
    assert s.get(base + "/destination").status_code == 200
for _ in range(pages):
    assert s.get(base + "/destination/monitor").status_code == 200
print("ok", flows, pages)
