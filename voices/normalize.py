"""Read text out the way a person would: numbers, money, dates, times, abbreviations and symbols.

Works token by token so every spoken word remembers which written token it came from: word timings and
subtitles then show "$12.50", not "twelve dollars fifty cents".
"""
from __future__ import annotations

import re
import unicodedata

ABBREVIATIONS = {
    "mr.": "mister", "mrs.": "missus", "ms.": "miz", "dr.": "doctor", "prof.": "professor", "jr.": "junior",
    "sr.": "senior", "vs.": "versus", "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is",
    "approx.": "approximately", "dept.": "department", "est.": "established", "inc.": "incorporated",
    "ltd.": "limited", "co.": "company", "mt.": "mount", "ave.": "avenue", "jan.": "january",
    "feb.": "february", "mar.": "march", "apr.": "april", "jun.": "june", "jul.": "july", "aug.": "august",
    "sep.": "september", "sept.": "september", "oct.": "october", "nov.": "november", "dec.": "december",
    "min.": "minutes", "sec.": "seconds", "hr.": "hours", "no.": "number", "st.": "saint",
}
SYMBOLS = {"&": "and", "+": "plus", "=": "equals", "@": "at", "%": "percent", "°": "degrees", "×": "times",
           "#": "number", "~": "about", "½": "one half", "¼": "one quarter", "¾": "three quarters"}
UNITS = {"km": "kilometers", "m": "meters", "cm": "centimeters", "mm": "millimeters", "kg": "kilograms",
         "g": "grams", "mb": "megabytes", "gb": "gigabytes", "kb": "kilobytes", "ms": "milliseconds",
         "s": "seconds", "h": "hours", "mph": "miles per hour", "kmh": "kilometers per hour", "ml": "milliliters",
         "l": "liters", "lb": "pounds", "lbs": "pounds", "ft": "feet", "in": "inches", "hz": "hertz", "khz": "kilohertz"}
CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
            "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
from pipelines.text import QUOTES, clean_text  # noqa: F401  (shared with every flow)


def _words(n: int | float, to: str = "cardinal") -> str:
    from num2words import num2words

    return num2words(n, to=to, lang="en").replace(",", "").replace("-", " ")


def _number(text: str) -> str:
    """A bare number: 1,234 / 3.14 / 1990 / 007."""
    clean = text.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", clean):
        whole, frac = clean.split(".")
        return f"{_words(int(whole))} point {' '.join(_words(int(d)) for d in frac)}"
    if re.fullmatch(r"\d+", clean):
        if len(clean) > 1 and clean.startswith("0"):
            return " ".join("oh" if d == "0" else _words(int(d)) for d in clean)
        value = int(clean)
        if "," not in text and 1100 <= value <= 2099 and value % 1000 >= 10 or value in (1900, 2000):
            return _words(value, "year")
        return _words(value)
    return text


def _money(symbol: str, amount: str) -> str:
    one, many, sub1, subn = CURRENCY[symbol]
    clean = amount.replace(",", "")
    whole, _, cents = clean.partition(".")
    parts = []
    if whole and int(whole) or not cents:
        parts.append(f"{_words(int(whole or 0))} {one if int(whole or 0) == 1 else many}")
    if cents and int(cents) and sub1:
        c = int(cents.ljust(2, "0")[:2])
        parts.append(f"{_words(c)} {sub1 if c == 1 else subn}")
    return " and ".join(parts) if len(parts) == 2 else parts[0]


def _time(hours: str, minutes: str) -> str:
    h, m = int(hours), int(minutes)
    if m == 0:
        return f"{_words(h)} o'clock"
    return f"{_words(h)} {'oh ' if m < 10 else ''}{_words(m)}"


def normalize_token(token: str, next_token: str = "", previous: str = "") -> str:
    """One written token -> the words to say (may be several, or none for pure punctuation)."""
    if previous[-1:].isdigit() and re.fullmatch(r"([ap])\.?m\.?([,;:!?.]*)", token.lower()):
        return f"{token[0].upper()}M" + re.sub(r"^[apAP]\.?[mM]\.?", "", token)  # espeak spells "AM" out
    lead_punct = re.match(r"[(\"']*", token).group(0)
    core = token[len(lead_punct):].lower().rstrip(",;:!?)\"'")
    if core in ABBREVIATIONS:
        if core == "st." and next_token[:1].islower():
            return lead_punct + "street" + token[len(lead_punct) + len(core):]
        if core == "no." and not next_token[:1].isdigit():
            return token
        return lead_punct + ABBREVIATIONS[core] + token[len(lead_punct) + len(core):]
    if m := re.fullmatch(r"([(\"']*)((?:[A-Z]\.){2,})([)\"',;:!?]*)", token):  # U.S.A. -> USA
        return m.group(1) + m.group(2).replace(".", "") + m.group(3)  # espeak spells capitals out
    m = re.fullmatch(r"([(\"']*)(.*?)([)\"'.,;:!?]*)", token)
    lead, body, trail = m.groups()
    spoken = _normalize_body(body, next_token)
    return f"{lead}{spoken}{trail}" if spoken != body else token


def _normalize_body(body: str, next_token: str) -> str:
    if not body:
        return body
    if m := re.fullmatch(r"([$£€¥])(\d[\d,]*(?:\.\d+)?)(k|m|bn|million|billion)?", body, re.I):
        scale = {"k": " thousand", "m": " million", "bn": " billion"}.get((m.group(3) or "").lower(),
                                                                          f" {m.group(3)}" if m.group(3) else "")
        if scale:
            one, many, *_ = CURRENCY[m.group(1)]
            return f"{_number(m.group(2))}{scale} {many}"
        return _money(m.group(1), m.group(2))
    if m := re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)%", body):
        return f"{_number(m.group(1))} percent"
    if m := re.fullmatch(r"(\d+)(st|nd|rd|th)", body, re.I):
        return _words(int(m.group(1)), "ordinal")
    if m := re.fullmatch(r"(\d{1,2}):(\d{2})(am|pm|a\.m\.|p\.m\.)?", body, re.I):
        suffix = {"am": " AM", "pm": " PM", "a.m.": " AM", "p.m.": " PM"}.get((m.group(3) or "").lower(), "")
        return _time(m.group(1), m.group(2)) + suffix
    if m := re.fullmatch(r"(\d{4})s", body):  # 1980s -> nineteen eighties
        head, _, last = _words(int(m.group(1)), "year").rpartition(" ")
        return f"{head} {last[:-1] + 'ies' if last.endswith('y') else last + 's'}".strip()
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", body, re.I):
        unit = m.group(2).lower()
        if unit in UNITS:
            return f"{_number(m.group(1))} {UNITS[unit]}"
        if unit in ("am", "pm"):
            return f"{_number(m.group(1))} {unit.upper()}"
    if re.fullmatch(r"\d[\d,]*(\.\d+)?", body):
        return _number(body)
    if re.fullmatch(r"\d+(-\d+)+", body):  # ranges and phone-like groups: 10-20 -> ten to twenty
        parts = body.split("-")
        return " to ".join(_number(p) for p in parts) if len(parts) == 2 else " ".join(_number(p) for p in parts)
    if body in SYMBOLS:
        return SYMBOLS[body]
    if any(ch in SYMBOLS for ch in body) and re.search(r"\w", body):
        return re.sub("|".join(re.escape(s) for s in SYMBOLS), lambda x: f" {SYMBOLS[x.group(0)]} ", body).strip()
    return body

