"""The pages' language: English or Simplified Chinese, chosen per request.

The Chinese text lives in a Babel message catalogue
(`locale/zh_CN/LC_MESSAGES/messages.po`), read at start-up, when the template
environment is built, with `babel.messages.pofile.read_po`. Templates mark
their text with Jinja2's `i18n` extension (`{% trans %}` and `_()`); the page
scripts look their messages up with `t()` in `static/app.js`, in a table that
`base.html` renders from the same catalogue for the strings the scripts use.

A request's locale is, in order: `?lang=`, the `lang` cookie (set by the
switch in the navigation), then the best match in `Accept-Language`, and
English otherwise. Usage::

    templates = LocalizedTemplates(env=template_environment(folder),
                                   context_processors=[page_context])
"""

from __future__ import annotations

import gettext as stdlib_gettext
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.templating import Jinja2Templates

WEB = Path(__file__).resolve().parent
LOCALES = WEB / "locale"
#: The catalogue's domain, as in `locale/<locale>/LC_MESSAGES/messages.po`.
DOMAIN = "messages"
#: The locale of the text written in the templates and scripts.
DEFAULT = "en"
#: Locales served, default first.
AVAILABLE = (DEFAULT, "zh_CN")
#: Name of the query parameter and of the cookie that override the browser's choice.
OVERRIDE = "lang"
#: Functions that mark a translatable string in the page scripts: `t("...")`, `tParts("...")`.
SCRIPT_KEYWORDS: dict[str, None] = {"t": None, "tParts": None}
#: Label of each locale in the language switch, in its own language.
LABELS = {"en": "English", "zh_CN": "中文"}

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def locale_of_tag(tag: str) -> str | None:
    """The served locale for a language tag such as `zh-CN`, `zh_Hans` or `en-GB`, or None.

    Every Chinese tag maps to zh_CN: the only Chinese served is Simplified,
    which a reader of Traditional Chinese reads more easily than English.
    """
    tag = tag.strip()
    if not _TAG.match(tag):
        return None
    language = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
    if language == "zh":
        return "zh_CN"
    if language == "en":
        return DEFAULT
    return None


def negotiate(accept_language: str | None) -> str:
    """The served locale that `Accept-Language` prefers most; English when none fits.

    Tags are ranked by their `q` weight (1 when absent); a weight of 0 refuses a
    tag, and equal weights keep the header's order.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and tag.strip():
            ranked.append((-weight, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return DEFAULT
        locale = locale_of_tag(tag)
        if locale:
            return locale
    return DEFAULT


def locale_of(request: Request) -> str:
    """The locale of a page request: `?lang=`, then the `lang` cookie, then `Accept-Language`."""
    for chosen in (request.query_params.get(OVERRIDE), request.cookies.get(OVERRIDE)):
        if chosen and (locale := locale_of_tag(chosen)):
            return locale
    return negotiate(request.headers.get("accept-language"))


@cache
def catalog(locale: str) -> Catalog:
    """The message catalogue of a locale (empty for English, whose text is the msgids)."""
    path = LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT or not path.exists():
        return Catalog(locale=locale, domain=DOMAIN)
    with path.open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


class CatalogTranslations(stdlib_gettext.NullTranslations):
    """gettext over a Babel catalogue; fuzzy and empty translations fall back to English."""

    def __init__(self, messages: Catalog) -> None:
        super().__init__()
        self._singular: dict[str, str] = {}
        self._plural: dict[str, tuple[str, ...]] = {}
        for message in messages:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, tuple | list):
                forms = tuple(message.string or ())
                if all(forms):
                    self._plural[message.id[0]] = forms
            elif isinstance(message.string, str) and message.string:
                self._singular[message.id] = message.string

    def gettext(self, message: str) -> str:
        """The translation of `message`, or `message` itself."""
        return self._singular.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        """The translation for `n`; Chinese has one form, so the first is used."""
        forms = self._plural.get(msgid1)
        if forms:
            return forms[0]
        return msgid1 if n == 1 else msgid2


@cache
def translations(locale: str) -> CatalogTranslations:
    """The gettext functions of a locale, built once."""
    return CatalogTranslations(catalog(locale))


@cache
def script_messages() -> frozenset[str]:
    """Msgids the page scripts look up with `t("...")`, found by Babel's JS extractor."""
    found: set[str] = set()
    for script in sorted((WEB / "static").glob("*.js")):
        with script.open("rb") as source:
            for _, message, _, _ in extract("javascript", source,
                                            keywords=SCRIPT_KEYWORDS):
                if isinstance(message, str):
                    found.add(message)
    return frozenset(found)


@cache
def script_table(locale: str) -> dict[str, str]:
    """msgid -> translation for the scripts' messages; empty for English."""
    if locale == DEFAULT:
        return {}
    t = translations(locale)
    return {m: t.gettext(m) for m in sorted(script_messages()) if t.gettext(m) != m}


def extract_messages() -> dict[str, list[tuple[str, int]]]:
    """Every msgid the templates and scripts use, with where: Babel's Jinja2 and JS extractors."""
    found: dict[str, list[tuple[str, int]]] = {}
    passes: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
        ("templates", "*.html", "jinja2", {"_": None, "gettext": None, "ngettext": (1, 2)},
         # As template_environment() renders: trimmed blocks, new-style gettext (a
         # literal % of a {% trans %} block is %% in its msgid).
         {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}),
        ("static", "*.js", "javascript", SCRIPT_KEYWORDS, {}),
    ]
    for folder, pattern, method, keywords, options in passes:
        for path in sorted((WEB / folder).rglob(pattern)):
            with path.open("rb") as source:
                for line, message, _, _ in extract(method, source, keywords=keywords,
                                                   options=options):
                    msgid = message[0] if isinstance(message, tuple) else message
                    if msgid:
                        where = (path.relative_to(WEB).as_posix(), line)
                        found.setdefault(msgid, []).append(where)
    return found


def update_catalog(locale: str = "zh_CN") -> Path:
    """Rewrite a locale's .po with the msgids in use: new ones empty, unused ones dropped."""
    template = Catalog(locale=locale, domain=DOMAIN, project="CouponChain")
    for msgid, places in extract_messages().items():
        flags = ("python-format",) if "%(" in msgid or "%%" in msgid else ()
        template.add(msgid, locations=places, flags=flags)
    path = LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    current = catalog(locale) if path.exists() else Catalog(
        locale=locale, domain=DOMAIN, project="CouponChain", fuzzy=False,
        last_translator="CouponChain developers", language_team=f"CouponChain {locale}",
        header_comment=f"# {locale} messages of the CouponChain pages.\n"
                       "# Update with `python -m couponchain.web.i18n` after wrapping text.")
    current.revision_date = datetime.now(UTC)
    current.update(template, no_fuzzy_matching=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po:
        write_po(po, current, width=100, ignore_obsolete=True, sort_output=False)
    catalog.cache_clear()
    return path


def _locale_in(context: Context) -> str:
    locale = context.get("locale")
    return locale if locale in AVAILABLE else DEFAULT


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_locale_in(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(_locale_in(context)).ngettext(singular, plural, n)


def _switch_href(request: Request, locale: str) -> str:
    """This page's path and query with `lang=` set: a relative link, right behind a proxy too."""
    url = request.url.include_query_params(**{OVERRIDE: locale})
    return f"{url.path}?{url.query}"


def page_context(request: Request) -> dict[str, Any]:
    """Template variables of the request's locale: `locale`, `html_lang`, the switch, the table."""
    locale = locale_of(request)
    return {
        "locale": locale,
        "html_lang": locale.replace("_", "-"),
        "languages": [(code, LABELS[code], _switch_href(request, code)) for code in AVAILABLE],
        "script_messages": script_table(locale),
    }


class LocalizedTemplates(Jinja2Templates):
    """Jinja2Templates whose pages say their language and that it follows the request.

    `Content-Language` names the page's language; `Vary` tells caches that the
    same URL answers differently per `Accept-Language` and `lang` cookie.
    """

    def TemplateResponse(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - Starlette's name
        """Starlette's TemplateResponse with the language headers added."""
        response = super().TemplateResponse(*args, **kwargs)
        request = args[0] if args and isinstance(args[0], Request) else kwargs.get("request")
        if isinstance(request, Request):
            response.headers["content-language"] = locale_of(request).replace("_", "-")
        response.headers.append("vary", "Accept-Language, Cookie")
        return response


def template_environment(folder: Path) -> Environment:
    """A Jinja2 environment with the `i18n` extension answering in each page's locale.

    One environment serves every request, so gettext cannot be installed per
    locale: the installed callables read the locale from the template context
    (see `page_context`).
    """
    env = Environment(loader=FileSystemLoader(folder), autoescape=True,
                      extensions=["jinja2.ext.i18n"])
    # A {% trans %} block's line breaks and indentation are not part of its msgid.
    env.policies["ext.i18n.trimmed"] = True
    install: Callable[..., None] = env.install_gettext_callables  # type: ignore[attr-defined]
    install(_gettext, _ngettext, newstyle=True)
    for locale in AVAILABLE:  # read the catalogues now: a broken .po fails at start-up
        script_table(locale)
    return env


if __name__ == "__main__":
    # `python -m couponchain.web.i18n`: bring the catalogue up to date after wrapping text.
    print(update_catalog())
