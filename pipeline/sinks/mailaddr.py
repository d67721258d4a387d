"""An author as Go's `net/mail` prints it (`Address.String`), for the commit references
Argo CD's Source Hydrator records: `"Name" <local@domain>`, a name that is not printable
ASCII as an RFC 2047 encoded-word (`mime.BEncoding` / `mime.QEncoding`, "utf-8")."""

from __future__ import annotations

import base64
from email.header import decode_header, make_header
from email.utils import parseaddr

_SPECIALS = set('()<>[]:;@\\,"')
_B_WORTHY = set("\"#$%&'(),.:;<>@[]^`{|}~")
_MAX_CONTENT = 75 - len("=?UTF-8?q?") - len("?=")  # an encoded-word holds 75 characters
_MAX_BASE64 = _MAX_CONTENT // 4 * 3


def _vchar(c: str) -> bool:
    return "!" <= c <= "~" or ord(c) >= 0x80


def _quote(text: str) -> str:
    out = ['"']
    for c in text:
        if (_vchar(c) and c not in '\\"') or c in " \t":
            out.append(c)
        elif _vchar(c):
            out.append("\\" + c)
    return "".join(out) + '"'


def _encoded_words(name: str, b: bool) -> str:
    """`mime.BEncoding.Encode("utf-8", name)` (b) or `mime.QEncoding...`; multi-byte
    characters never split across words."""
    words: list[bytes] = []
    if b:
        data = name.encode()
        if len(base64.b64encode(data)) <= _MAX_CONTENT:
            words = [base64.b64encode(data)]
        else:
            chunk = b""
            for c in name:
                raw = c.encode()
                if len(chunk) + len(raw) > _MAX_BASE64:
                    words.append(base64.b64encode(chunk))
                    chunk = b""
                chunk += raw
            words.append(base64.b64encode(chunk))
    else:
        word, size = b"", 0
        for c in name:
            raw = c.encode()
            plain = " " <= c <= "~" and c not in "=?_"
            cost = 1 if plain else 3 * len(raw)
            if size + cost > _MAX_CONTENT:
                words.append(word)
                word, size = b"", 0
            word += b"_" if c == " " else raw if plain else "".join(
                f"={byte:02X}" for byte in raw).encode()
            size += cost
        words.append(word)
    kind = "b" if b else "q"
    return " ".join(f"=?utf-8?{kind}?{w.decode()}?=" for w in words)


def parse(text: str) -> tuple[str, str] | None:
    """(name, address) of one RFC 5322 address, encoded-words in the name decoded; None
    for text that is not one (an address needs a local part and a domain)."""
    name, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in address):
        return None
    if "=?" in name:
        name = str(make_header(decode_header(name)))
    return name, address


def format_address(name: str, address: str) -> str:
    """Go's `(*mail.Address).String()`."""
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    dots_ok = all(c != "." or (0 < i < len(local) - 1 and local[i - 1] != ".")
                  for i, c in enumerate(local))
    if not dots_ok or any(c != "." and (not _vchar(c) or c in _SPECIALS) for c in local):
        local = _quote(local)
    angle = f"<{local}@{domain}>"
    if not name:
        return angle
    if all((_vchar(c) or c in " \t") and ord(c) < 0x80 for c in name):
        return f"{_quote(name)} {angle}"
    if any(c in _B_WORTHY for c in name):
        return f"{_encoded_words(name, b=True)} {angle}"
    return f"{_encoded_words(name, b=False)} {angle}"
