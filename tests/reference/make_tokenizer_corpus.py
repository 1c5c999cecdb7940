#!/usr/bin/env python3
"""Builds the tokenizer test corpus and the other inputs of the large tokenizer golden set.

Writes, into --out (default tests/fixtures/tokenizer):
  corpus.txt.gz          ~1.3 MB of varied text: chunks separated by U+001E (record separator)
  decode_cases.txt       id sequences (one per line, space separated) for decode tests
  variant_prefix.json    a small BPE tokenizer (first merges of --tokenizer) with unusual added
                         tokens (lstrip/rstrip/single_word/normalized) and add_prefix_space
  variant_noregex.json   the same vocabulary with use_regex=false, no normalizer, ignore_merges
  variant_cases.txt.gz   inputs for the two variants, separated by U+001E

Only the standard library is used; text comes from files on a Debian machine (licenses, package
docs, C/C++ headers, the bundled WikiText-2 and bAbI files (data/)) plus generated snippets (many scripts,
emoji, whitespace runs, numbers, contractions, CRLF, combining marks, special-token spellings,
control characters, very long words). The generator is deterministic for a given machine; the
committed outputs are what the tests use. Run from the repository root:

  python3 tests/reference/make_tokenizer_corpus.py \
      --tokenizer data/tokenizers/gpt-neox-20b/tokenizer.json.gz
"""
import argparse
import glob
import gzip
import json
import os
import random
import unicodedata

SEP = "\x1e"


def read_text(path, limit=None):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
            text = f.read(limit) if limit else f.read()
    except (OSError, EOFError):
        return ""
    return text.replace(SEP, "")


def chunk_lines(text, rng, lo, hi):
    """Splits text into chunks of lo..hi lines, keeping every character (newlines included)."""
    lines = text.splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        n = rng.randint(lo, hi)
        out.append("".join(lines[i:i + n]))
        i += n
    return [c for c in out if c]


def crlf(chunk):
    return chunk.replace("\r\n", "\n").replace("\n", "\r\n")


# ---------------------------------------------------------------------------------------------
# Text from files on this machine


def file_chunks(rng, data_dir):
    chunks = []
    wiki = read_text(os.path.join(data_dir, "text/wikitext-2-test.txt.gz"))
    wiki_chunks = chunk_lines(wiki[:330_000], rng, 1, 6)
    for i, c in enumerate(wiki_chunks):
        chunks.append(crlf(c) if i % 9 == 4 else c)
    babi = read_text(os.path.join(data_dir, "babi/qa2_two-supporting-facts_test.txt.gz"))
    chunks += chunk_lines(babi[:40_000], rng, 3, 20)

    for name in ["GPL-3", "Apache-2.0", "Artistic", "BSD", "MPL-2.0", "CC0-1.0", "LGPL-2.1"]:
        text = read_text("/usr/share/common-licenses/" + name, 40_000)
        for i, c in enumerate(chunk_lines(text, rng, 2, 25)):
            chunks.append(crlf(c) if (i + len(name)) % 5 == 0 else c)

    docs = sorted(glob.glob("/usr/share/doc/*/copyright"))[::6]
    docs += sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[::15]
    docs += sorted(glob.glob("/usr/share/doc/*/README*"))[::4]
    budget = 180_000
    for path in docs:
        if budget <= 0:
            break
        text = read_text(path, 6_000)
        budget -= len(text)
        chunks += chunk_lines(text, rng, 3, 30)

    headers = ["stdio.h", "stdlib.h", "string.h", "utf8proc.h", "pcre2.h", "zlib.h",
               "c++/12/bits/stl_vector.h", "c++/12/bits/basic_string.h", "c++/12/optional",
               "c++/12/bits/unordered_map.h", "gtest/gtest.h", "x86_64-linux-gnu/bits/stdio2.h",
               "linux/input-event-codes.h", "python3.11/Python.h", "nlohmann/json.hpp"]
    for h in headers:
        text = read_text("/usr/include/" + h, 30_000)
        chunks += chunk_lines(text, rng, 4, 60)
    return chunks


# ---------------------------------------------------------------------------------------------
# Generated snippets

SCRIPTS = {  # name: code point ranges; unassigned (Cn) code points are filtered out
    "latin": [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)],
    "greek": [(0x370, 0x3FF), (0x1F00, 0x1FFF)],
    "cyrillic": [(0x400, 0x4FF)],
    "armenian": [(0x531, 0x58A)],
    "hebrew": [(0x591, 0x5F4)],
    "arabic": [(0x600, 0x6FF), (0xFB50, 0xFBB1)],
    "devanagari": [(0x900, 0x97F)],
    "bengali": [(0x980, 0x9FE)],
    "tamil": [(0xB82, 0xBFA)],
    "thai": [(0xE01, 0xE5B)],
    "lao": [(0xE81, 0xEDF)],
    "tibetan": [(0xF00, 0xFDA)],
    "myanmar": [(0x1000, 0x109F)],
    "georgian": [(0x10A0, 0x10FF)],
    "hangul_jamo": [(0x1100, 0x11FF)],
    "ethiopic": [(0x1200, 0x137C)],
    "cherokee": [(0x13A0, 0x13F5)],
    "khmer": [(0x1780, 0x17F9)],
    "mongolian": [(0x1800, 0x18AA)],
    "sinhala": [(0xD81, 0xDF4)],
    "hiragana": [(0x3041, 0x309F)],
    "katakana": [(0x30A0, 0x30FF)],
    "cjk": [(0x4E00, 0x9FFF)],
    "cjk_ext_b": [(0x20000, 0x2A6DF)],
    "cjk_compat": [(0xF900, 0xFAFF)],
    "hangul": [(0xAC00, 0xD7A3)],
    "fullwidth": [(0xFF01, 0xFF5E)],
    "math_alnum": [(0x1D400, 0x1D7FF)],
    "symbols": [(0x2000, 0x2BFF)],
    "emoji": [(0x1F300, 0x1FAFF)],
}


def assigned(ranges):
    out = []
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            if unicodedata.category(chr(cp)) not in ("Cn", "Cs", "Co"):
                out.append(chr(cp))
    return out


POOLS = {name: assigned(r) for name, r in SCRIPTS.items()}
MARKS = [c for c in assigned([(0x300, 0x36F), (0x1AB0, 0x1ACE), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0)])]
UNICODE_SPACES = ["\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005",
                  "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000",
                  "\u2028", "\u2029", "\u0085", "\x0b", "\x0c"]
NOT_SPACES = ["\u200b", "\u200c", "\u200d", "\u180e", "\ufeff", "\u2060"]  # Cf, not White_Space
CONTROLS = [chr(c) for c in list(range(0, 0x20)) + [0x7F] + list(range(0x80, 0xA0))
            if chr(c) not in (SEP, "\n", "\r")]
SPECIALS = ["<|endoftext|>", "<|padding|>"]
CONTRACTIONS = ["I'm", "you're", "they've", "he'll", "she'd", "it's", "don't", "DON'T", "I'M",
                "We'Ve", "a'lL", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''s", "'s'",
                "o'clock", "rock'n'roll", "y'all", "it’s", "don’t", "'", "''", "'''", "x's",
                "'sup", "'tis", "'LL", "'Re", "cat's", "'\u0301s"]
WORDS = ("the of and to in is was for on that with as by at from his her an it which be are "
         "this or had not but were have they one their all been has first new two who after "
         "time year during when more other into would only its also most later between about "
         "Hello world tokenizer compression context memory recurrent encoder decoder model "
         "Führer naïve café résumé Ångström São Paulo Zürich Kraków Ελληνικά русский 中文 日本語 "
         "한국어 עברית العربية हिन्दी ไทย").split()


def word(rng, pool, lo=1, hi=9):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))


def multiscript(rng):
    name = rng.choice(sorted(POOLS))
    pool = POOLS[name]
    parts = []
    for _ in range(rng.randint(1, 14)):
        parts.append(word(rng, pool))
        parts.append(rng.choice([" ", " ", " ", ", ", ". ", "\n", "  ", "\t", "、", "。", " - "]))
    return "".join(parts)


def emoji(rng):
    base = POOLS["emoji"]
    out = []
    for _ in range(rng.randint(1, 10)):
        kind = rng.randint(0, 7)
        if kind == 0:
            out.append(rng.choice(base))
        elif kind == 1:  # ZWJ family / profession sequences
            out.append("\u200d".join(rng.choice(base) for _ in range(rng.randint(2, 4))))
        elif kind == 2:  # skin tones
            out.append(rng.choice(base) + chr(rng.randint(0x1F3FB, 0x1F3FF)))
        elif kind == 3:  # flags (regional indicator pairs)
            out.append(chr(rng.randint(0x1F1E6, 0x1F1FF)) + chr(rng.randint(0x1F1E6, 0x1F1FF)))
        elif kind == 4:  # keycaps
            out.append(rng.choice("0123456789#*") + "\ufe0f\u20e3")
        elif kind == 5:  # variation selectors
            out.append(rng.choice(["\u2764", "\u263a", "\u2600", "\u2b50"]) +
                       rng.choice(["\ufe0f", "\ufe0e", ""]))
        elif kind == 6:  # tag sequences (subdivision flags)
            out.append("\U0001F3F4" + "".join(chr(0xE0000 + ord(c)) for c in "gbsct") + "\U000E007F")
        else:
            out.append(rng.choice(WORDS))
        out.append(rng.choice(["", " ", "  ", "\n", "!", " (", ") "]))
    return "".join(out)


def whitespace(rng):
    out = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.randint(0, 9)
        if kind <= 2:
            out.append(" " * rng.randint(1, 80))
        elif kind == 3:
            out.append("\t" * rng.randint(1, 12))
        elif kind == 4:
            out.append("".join(rng.choice([" ", "\t", "\n", "\r\n", "\r"]) for _ in range(rng.randint(1, 20))))
        elif kind == 5:
            out.append(rng.choice(UNICODE_SPACES) * rng.randint(1, 4))
        elif kind == 6:
            out.append(rng.choice(NOT_SPACES))
        elif kind == 7:
            out.append("\n" * rng.randint(1, 8))
        else:
            out.append(rng.choice(WORDS))
    return "".join(out)


def numbers(rng):
    out = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.randint(0, 9)
        if kind == 0:
            out.append(str(rng.randint(0, 10 ** rng.randint(1, 30))))
        elif kind == 1:
            out.append(f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 8)}f}")
        elif kind == 2:
            out.append(f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}")
        elif kind == 3:
            out.append(f"{rng.uniform(0, 10):.3e}")
        elif kind == 4:
            out.append(f"{rng.randint(1900, 2099)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        elif kind == 5:  # digits of other scripts, fractions, superscripts, roman numerals
            out.append(word(rng, "٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９①②③½¼¾²³¹ⅠⅡⅢⅫↂ〇", 1, 6))
        elif kind == 6:
            out.append(f"+1 ({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}")
        elif kind == 7:
            out.append(f"0x{rng.getrandbits(64):x}")
        elif kind == 8:
            out.append(f"v{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}")
        else:
            out.append(rng.choice(WORDS) + str(rng.randint(0, 99)))
        out.append(rng.choice([" ", " ", ", ", "\n", "%", " $", "€", "—", "-", "/"]))
    return "".join(out)


def contractions(rng):
    return " ".join(rng.choice(CONTRACTIONS + WORDS) for _ in range(rng.randint(1, 15)))


def combining(rng):
    out = []
    for _ in range(rng.randint(1, 10)):
        kind = rng.randint(0, 8)
        if kind == 0:  # base + random marks in random order (NFC reorders by combining class)
            out.append(rng.choice("aeiouAEIOUnNcCsSzZyYwxq") +
                       "".join(rng.choice(MARKS) for _ in range(rng.randint(1, 4))))
        elif kind == 1:  # decomposed words
            out.append(unicodedata.normalize("NFD", rng.choice(WORDS + ["Việt Nam", "Ελληνικά", "Ǆemal"])))
        elif kind == 2:  # conjoining Hangul jamo L V (T) -> composed syllables under NFC
            s = chr(rng.randint(0x1100, 0x1112)) + chr(rng.randint(0x1161, 0x1175))
            if rng.random() < 0.5:
                s += chr(rng.randint(0x11A8, 0x11C2))
            out.append(s)
        elif kind == 3:  # singleton decompositions and composition exclusions
            out.append(rng.choice(["\u212b", "\u2126", "\u212a", "\u0340", "\u0341", "\u0343",
                                   "\u0344", "\u0958", "\u0929", "\u2000", "\uf900", "\ufa10",
                                   "\u1e9b\u0323", "\u0374", "\u037e", "\u0387", "\u1f71"]))
        elif kind == 4:  # marks with no base: at the start, after spaces, digits, punctuation
            out.append(rng.choice(["", " ", "1", ".", "'", "\n"]) + rng.choice(MARKS))
        elif kind == 5:  # Devanagari/Thai/Arabic clusters with vowel signs
            out.append(word(rng, POOLS[rng.choice(["devanagari", "thai", "arabic", "hebrew", "tibetan"])], 2, 6))
        elif kind == 6:
            out.append(unicodedata.normalize(rng.choice(["NFD", "NFKD", "NFC"]), rng.choice(WORDS)))
        elif kind == 7:
            out.append(rng.choice(POOLS["latin"]) + "\u0301\u0301")
        else:
            out.append(rng.choice(WORDS))
        out.append(rng.choice([" ", "", "\n", ", "]))
    return "".join(out)


def specials(rng):
    atoms = SPECIALS + ["<|endoftext", "|>", "<|", "<|endoftext|", "<|padding|", "<<|endoftext|>>",
                        "<|endoftext|><|endoftext|>", "\u0301", " ", "  ", "\n", "'s", "a", "Hello"]
    return "".join(rng.choice(atoms) for _ in range(rng.randint(1, 12)))


def controls(rng):
    return "".join(rng.choice(CONTROLS + WORDS + [" "]) for _ in range(rng.randint(1, 16)))


def long_words(rng):
    kind = rng.randint(0, 9)
    if kind == 0:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(65, 3000)))
    if kind == 1:
        return rng.choice(WORDS) * rng.randint(10, 200)
    if kind == 2:
        return str(rng.getrandbits(rng.randint(200, 3000)))
    if kind == 3:
        return rng.choice("=-._*#~+") * rng.randint(65, 1500)
    if kind == 4:
        import base64
        return base64.b64encode(rng.randbytes(rng.randint(50, 2000))).decode()
    if kind == 5:
        return rng.randbytes(rng.randint(40, 500)).hex()
    if kind == 6:
        return " " * rng.randint(100, 700) + rng.choice(WORDS)
    if kind == 7:
        return "\n" * rng.randint(50, 300) + "\t" * rng.randint(0, 40)
    if kind == 8:
        return word(rng, POOLS[rng.choice(["cjk", "hangul", "thai", "cyrillic"])], 65, 800)
    return "https://example.com/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))


def soup(rng):
    atoms = (WORDS + CONTRACTIONS + SPECIALS + UNICODE_SPACES + NOT_SPACES + MARKS[:40] +
             [" ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", ".", ",", "!", "?", "'", '"',
              "(", ")", "-", "_", "0", "42", "3.14", "½", "①", "😀", "👍🏽", "é", "e\u0301", "ß",
              "İ", "ﬁ", "\x00", "\x7f", "\u0085", "$", "€", "™", "…", "—", "«", "»", "„", "“"])
    return "".join(rng.choice(atoms) for _ in range(rng.randint(1, 60)))


GENERATORS = [(multiscript, 700), (emoji, 400), (whitespace, 600), (numbers, 500),
              (contractions, 400), (combining, 700), (specials, 300), (controls, 250),
              (long_words, 120), (soup, 2500)]


def generated_chunks(rng):
    chunks = []
    for gen, count in GENERATORS:
        for i in range(count):
            c = gen(rng)
            chunks.append(crlf(c) if i % 13 == 7 else c)
    return chunks


# ---------------------------------------------------------------------------------------------
# Decode cases and variant tokenizers


def decode_cases(rng, vocab_size):
    lines = []
    for _ in range(400):  # random ids: mostly byte fragments -> U+FFFD handling
        lines.append([rng.randrange(vocab_size) for _ in range(rng.randint(1, 24))])
    for _ in range(200):  # raw byte tokens (ids 2..257 hold the 256 byte symbols in GPT-NeoX)
        lines.append([rng.randint(2, 257) for _ in range(rng.randint(1, 12))])
    for _ in range(100):  # special and whitespace-run tokens mixed with text, unknown ids
        lines.append([rng.choice([0, 1, 50254, 50276, 50277, 60000, 12092, 1533, 209, 187,
                                  rng.randrange(vocab_size)]) for _ in range(rng.randint(1, 16))])
    lines.append([])
    return "".join(" ".join(map(str, ids)) + "\n" for ids in lines)


def variant_tokenizers(base_path, n_merges=3000):
    base = json.loads(read_text(base_path))  # tokenizer.json or .json.gz
    bvocab = base["model"]["vocab"]
    merges = base["model"]["merges"][:n_merges]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    by_id = sorted(bvocab.items(), key=lambda kv: kv[1])
    vocab = {}
    for tok_str, _ in by_id[2:258]:  # the 256 byte symbols of GPT-NeoX
        vocab[tok_str] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    n = len(vocab)
    added_spec = [  # content, special, normalized, lstrip, rstrip, single_word
        ("<|endoftext|>", True, False, False, False, False),
        ("[MASK]", True, False, True, False, False),
        ("<sep>", True, False, False, True, False),
        ("_x_", True, False, True, True, True),
        ("<norm>", True, True, False, False, False),
        ("hello", False, True, False, False, True),
        ("wo\u0308rld", False, True, False, False, False),
        ("\u212b", False, True, False, False, False),
        ("  ", False, True, False, False, False),
        ("<a>", False, False, False, False, False),
        ("<a>b", False, False, False, False, False),
        ("\u00e9", False, False, False, False, False),
        ("the", False, True, False, False, False),
        ("xyz", False, False, True, True, False),
    ]
    added = []
    next_id = n
    for content, special, normalized, lstrip, rstrip, single_word in added_spec:
        tid = vocab.get(content)
        if tid is None:
            tid = next_id
            next_id += 1
        added.append({"id": tid, "content": content, "single_word": single_word, "lstrip": lstrip,
                      "rstrip": rstrip, "normalized": normalized, "special": special})
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "vocab": vocab,
             "merges": [f"{a} {b}" for a, b in merges]}
    prefix = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
              "normalizer": {"type": "NFC"},
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                                "use_regex": True},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
              "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
              "model": model}
    noregex = json.loads(json.dumps(prefix))
    noregex["normalizer"] = None
    noregex["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False,
                                "trim_offsets": True, "use_regex": False}
    noregex["model"]["ignore_merges"] = True
    noregex["model"]["merges"] = [[a, b] for a, b in merges]  # the newer pair format
    return prefix, noregex


def variant_cases(rng, corpus_chunks):
    targeted = [
        "hello world", "hellohello", "say hello", "hello_", "_hello", "héllo hello.", "hello\u0301",
        "[MASK]", "a [MASK] b", "a   [MASK]", "a\t\n [MASK]", "[MASK][MASK]", "  [MASK]  [MASK]",
        "<sep>", "a<sep>   b", "<sep>\n\nx", "<sep><sep>", "a <sep>   [MASK] c",
        "_x_", "a _x_ b", "a_x_b", "  _x_  ", "é_x_", "1_x_", "._x_.",
        "<norm>", "a<norm>b", "wörld", "wo\u0308rld", "world", "\u212b", "\u00c5", "A\u030a",
        "  ", "   ", "    ", "a  b", "a   b", "<a>", "<a>b", "<a>bc", "<a><a>b", "é", "e\u0301",
        "the", "there the", "xyz", " xyz ", "a  xyz  b", "xyz xyz", "<|endoftext|>",
        "x<|endoftext|>y", "hello<sep>hello", "[MASK]hello", "", " ", "\n", "é<norm>é",
        "xyz  <sep>  xyz", "abc\u0301xyz", "hello\u00a0hello", "\u3000[MASK]", "_x_\u2028",
    ]
    sample = rng.sample(corpus_chunks, 400)
    sample = [c[:3000] for c in sample]
    return targeted + sample


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="GPT-NeoX tokenizer.json (for the variants)")
    ap.add_argument("--data", default="data", help="the repository's data folder")
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)

    chunks = file_chunks(rng, args.data) + generated_chunks(rng)
    rng.shuffle(chunks)
    chunks = [c for c in chunks if c]
    corpus = SEP.join(chunks)
    assert SEP not in "".join(chunks)
    with open(os.path.join(args.out, "corpus.txt.gz"), "wb") as f:
        f.write(gzip.compress(corpus.encode("utf-8"), compresslevel=9, mtime=0))

    with open(os.path.join(args.out, "decode_cases.txt"), "w", encoding="utf-8") as f:
        f.write(decode_cases(rng, 50277))

    prefix, noregex = variant_tokenizers(args.tokenizer)
    for name, tok in [("variant_prefix.json", prefix), ("variant_noregex.json", noregex)]:
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
    cases = variant_cases(rng, chunks)
    with open(os.path.join(args.out, "variant_cases.txt.gz"), "wb") as f:
        f.write(gzip.compress(SEP.join(cases).encode("utf-8"), compresslevel=9, mtime=0))
    print(f"corpus: {len(chunks)} chunks, {len(corpus.encode('utf-8'))} bytes; "
          f"variant cases: {len(cases)}")


if __name__ == "__main__":
    main()
