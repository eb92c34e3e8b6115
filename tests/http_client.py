"""A plain HTTP client with a cookie jar and a CSRF token, like one person's browser."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TIMEOUT = 10


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie jar and a CSRF token, like one person's browser, for any instance."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )
        self.token = None

    def request(self, method, url, data=None, accept="text/html"):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, method=method, headers={"Accept": accept})
        try:
            with self.opener.open(req, timeout=TIMEOUT) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode(errors="replace")

    def get(self, url):
        status, headers, text = self.request("GET", url)
        match = CSRF_META.search(text)
        if match:
            self.token = match.group(1)
        return status, headers, text

    def post(self, url, data, accept="text/html"):
        if self.token is None:
            self.get(url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + "/login/")
        status, headers, text = self.request(
            "POST", url, {**data, "csrf_token": self.token}, accept
        )
        if status in (301, 302, 303) and headers.get("Location"):
            # A browser loads the page it is sent to, and with it a CSRF token
            # for the session as it is now (a new one after signing in or out).
            self.get(urllib.parse.urljoin(url, headers["Location"]))
        return status, headers, text

    def login(self, base, email, password):
        self.get(base + "/login/")
        status, _, _ = self.post(base + "/login/", {"email": email, "password": password})
        assert status == 302, (status, email)

    def signed_in(self, base) -> bool:
        return self.get(base + "/home/")[0] == 200

    def cookie(self, name="custom_sessionid"):
        return next((c.value for c in self.jar if c.name == name), None)
