"""``{% cache "name", key… %}…{% endcache %}``: a part of a page rendered once per key.

Much of a page is the same for everyone who reads it in one language: the
header's links, the language buttons, the table's headings, the strings
app.js needs. Rendered each time, they cost a ``url_for`` or a ``gettext``
apiece, more than the page's own data. A cached fragment is rendered on its
first use and then read back, keyed by its name, the values given after it,
and always the app's root (the prefix it is served under: every link in it
starts with it) and the interface language.

The key must name everything the fragment shows that can change: a
fragment holding a link the user's role decides is keyed by the role and
its rules version (see tz_app.permissions.policy_for), one marking the
current page by the endpoint. Anything personal (a name, a CSRF token, a
search term) stays outside. Fragments are kept per process; past
MAX_FRAGMENTS (old rules versions pile up) they are all let go and built
again as pages ask for them.
"""

from flask import current_app, request
from flask_babel import get_locale
from jinja2 import nodes
from jinja2.ext import Extension
from markupsafe import Markup

MAX_FRAGMENTS = 2048


class FragmentCache(Extension):
    tags = frozenset({"cache"})

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        key = [parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            key.append(parser.parse_expression())
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        call = self.call_method("_render", [nodes.List(key)])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    @staticmethod
    def _render(key: list, caller) -> Markup:
        store = current_app.extensions.setdefault("tz_fragments", {})
        full_key = (request.script_root, get_locale(), *key)
        html = store.get(full_key)
        if html is None:
            if len(store) >= MAX_FRAGMENTS:
                store.clear()
            html = store[full_key] = caller()
        return html
