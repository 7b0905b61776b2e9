"""The pages' languages (web/i18n.py): locale choice and a complete zh_CN catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.requests import Request

from couponchain.api.routes.pages import templates
from couponchain.web import i18n

PO = i18n.LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po"
#: Placeholders of the templates (%(name)s), of the scripts ({name}), and HTML tags.
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%|\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+(?: [a-z-]+=\"[^\"]*\")*>")


def _request(query: str = "", cookie: str = "", accept_language: str | None = None) -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    return Request({"type": "http", "method": "GET", "path": "/wallet", "root_path": "",
                    "query_string": query.encode(), "headers": headers, "scheme": "http",
                    "server": ("testserver", 80)})


def _catalogue():
    with PO.open("rb") as po:
        return read_po(po, locale="zh_CN")


@pytest.mark.parametrize(("header", "locale"), [
    (None, "en"),
    ("", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    ("zh", "zh_CN"),
    ("zh-Hans-CN", "zh_CN"),
    ("zh-TW,en;q=0.5", "zh_CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("en-GB;q=0.4, zh-CN;q=0.7", "zh_CN"),
    ("fr-FR,fr;q=0.9,zh-CN;q=0.5,en;q=0.3", "zh_CN"),
    ("fr-FR,de;q=0.9", "en"),
    ("zh-CN;q=0, en;q=0.5", "en"),
    ("*", "en"),
    ("zh-CN;q=nonsense,en", "en"),
    ("\u4e2d\u6587, ;;, zh", "zh_CN"),
])
def test_accept_language_picks_the_preferred_served_locale(header: str | None,
                                                           locale: str) -> None:
    assert i18n.negotiate(header) == locale


def test_query_then_cookie_override_the_browser() -> None:
    chinese_browser = "zh-CN,zh;q=0.9"
    assert i18n.locale_of(_request(accept_language=chinese_browser)) == "zh_CN"
    assert i18n.locale_of(_request(cookie="lang=en", accept_language=chinese_browser)) == "en"
    assert i18n.locale_of(_request(query="lang=zh-CN", cookie="lang=en")) == "zh_CN"
    assert i18n.locale_of(_request(query="lang=en", accept_language=chinese_browser)) == "en"
    # An override naming no served locale is ignored, not an error.
    assert i18n.locale_of(_request(query="lang=xx", accept_language=chinese_browser)) == "zh_CN"
    assert i18n.locale_of(_request(cookie="lang=%3Cscript%3E")) == "en"


def test_every_message_in_the_catalogue_has_a_chinese_translation() -> None:
    untranslated = [m.id for m in _catalogue() if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_every_message_the_pages_use_is_in_the_catalogue() -> None:
    catalogue = {m.id for m in _catalogue() if m.id}
    used = i18n.extract_messages()
    assert len(used) > 300, "the extractors found the templates' and scripts' text"
    missing = {msgid: places for msgid, places in used.items() if msgid not in catalogue}
    assert missing == {}, "run `python -m couponchain.web.i18n` and translate the new msgids"
    unused = catalogue - set(used)
    assert unused == set(), "msgids no page uses: run `python -m couponchain.web.i18n`"


def test_translations_keep_placeholders_and_markup() -> None:
    for message in _catalogue():
        if not message.id:
            continue
        for pattern in (PLACEHOLDER, TAG):
            assert sorted(pattern.findall(message.string)) == sorted(
                pattern.findall(message.id)), message.id


def test_the_scripts_table_holds_exactly_their_messages() -> None:
    table = i18n.script_table("zh_CN")
    assert table["Show consent QR"] == "出示授权二维码"
    assert table["Hello, {name}"] == "你好，{name}"
    assert "Wallet" not in table  # a template's text, rendered on the server
    assert set(table) <= i18n.script_messages()
    assert i18n.script_table("en") == {}


def _render(name: str, request: Request) -> str:
    context = {"request": request, **i18n.page_context(request)}
    return templates.env.get_template(name).render(context)


def test_a_page_renders_in_the_request_s_language() -> None:
    chinese = _render("promotions/console.html", _request(accept_language="zh-CN"))
    assert '<html lang="zh-CN">' in chinese
    assert "<h1>促销券管理</h1>" in chinese
    # A literal % in a {% trans %} block survives new-style gettext's formatting.
    assert "（订单金额的基点；100 = 1 %）" in chinese
    assert '"Evaluating\\u2026": "\\u8bc4\\u4f30\\u4e2d\\u2026"' in chinese  # the JSON table
    english = _render("promotions/console.html", _request(accept_language="en-US"))
    assert '<html lang="en">' in english
    assert "<h1>Promotions console</h1>" in english
    assert "(basis points of the order; 100 = 1 %)" in english
    assert '<script type="application/json" id="messages">{}</script>' in english


def test_the_language_switch_links_keep_the_page_s_query() -> None:
    page = _render("signin.html", _request(query="next=%2Fwallet", accept_language="en"))
    assert 'href="/wallet?next=%2Fwallet&amp;lang=zh_CN"' in page
    assert '<strong lang="en">English</strong>' in page


def test_pages_say_their_language_and_that_it_varies() -> None:
    response = templates.TemplateResponse(_request(accept_language="zh-CN"), "signin.html", {})
    assert response.headers["content-language"] == "zh-CN"
    assert response.headers["vary"] == "Accept-Language, Cookie"
    assert "<h1>登录</h1>" in bytes(response.body).decode()


def test_the_catalogue_ships_with_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"web/locale/**/*"' in pyproject
    assert PO.is_relative_to(i18n.WEB)
