"""From an HTTP response body to HTML text: is it HTML, and which charset is it really in."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]", re.I | re.S)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Labels browsers treat as something wider (WHATWG Encoding Standard): decoding with the
# narrow codec would fail or garble text that every browser shows correctly.
_WIDER = {
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252",
    "us-ascii": "cp1252", "iso8859-1": "cp1252", "l1": "cp1252",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "iso-8859-9": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874",
}


class UndecodableError(ValueError):
    pass


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def header_charset(content_type: str | None) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


def is_html(identified_type: str | None, content_type: str | None, body: bytes) -> bool:
    """By Common Crawl's identified payload type first, then the header, then the bytes."""
    if media_type(identified_type) in HTML_TYPES or media_type(content_type) in HTML_TYPES:
        return True
    if identified_type and media_type(identified_type) not in ("", "application/octet-stream", "text/plain"):
        return False  # CC identified something else (an image, a PDF): trust that over a sniff
    return bool(_HTML_START.match(body[:1024].lstrip(codecs.BOM_UTF8)))


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _WIDER.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _try(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, codec used). Order: byte-order mark, the HTTP header's charset, the page's
    <meta> charset, strict UTF-8, then detection. A label is only believed if the bytes
    decode under it strictly, so a wrong label falls through instead of producing mojibake.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom) and (text := _try(body, codec)) is not None:
            return text, codec
    candidates = [_codec(header_charset(content_type))]
    m = _META_CHARSET.search(body[:4096])
    candidates.append(_codec(m.group(1).decode("ascii", "ignore")) if m else None)
    candidates.append("utf-8")
    for codec in candidates:
        text = _try(body, codec)
        if text is not None:
            return text, codec
    matches = list(from_bytes(body))
    if not matches:
        raise UndecodableError("no charset decodes this body")
    # charset_normalizer's best() breaks ties in chaos by its own order (cp1250 before
    # cp1252 for French); the more coherent language model is the better tie-breaker.
    best = min(matches, key=lambda m: (round(m.chaos, 3), -m.coherence))
    return str(best), best.encoding
