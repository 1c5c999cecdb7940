#!/usr/bin/env python3
"""Large tokenizer golden set from Hugging Face `tokenizers` (Python bindings).

Same inputs and outputs as make_tokenizer_fixtures.mjs (which produced the committed files with
the npm package of the same version); run either. From the repository root:

  python3 tests/reference/make_tokenizer_fixtures.py \
      --corpus tests/fixtures/tokenizer/corpus.txt.gz \
      --tokenizer data/tokenizers/gpt-neox-20b/tokenizer.json.gz \
      --out tests/fixtures/tokenizer

Inputs beside --corpus (written by make_tokenizer_corpus.py): decode_cases.txt,
variant_prefix.json, variant_noregex.json, variant_cases.txt.gz. Outputs in --out:
  corpus_expected.jsonl.gz   per corpus chunk: {"ids": [...], "decoded": "..."}
  decode_expected.jsonl.gz   per decode case: {"ids": [...], "text": "...", "text_skip_special": "..."}
  variant_prefix_expected.jsonl.gz, variant_noregex_expected.jsonl.gz: like corpus_expected
  tokenizer_fixture_meta.json   tool, version, input checksums, counts
Chunks are separated by U+001E. encode() runs with add_special_tokens=False, decode() with
skip_special_tokens=False (and True for the decode cases).
"""
import argparse
import gzip
import hashlib
import json
import os
import platform

SEP = "\x1e"


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def sha256(path):
    """sha256 of a file's text (uncompressed when .gz), as recorded in the fixture meta."""
    return hashlib.sha256(read_text(path).encode("utf-8")).hexdigest()


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_gz(path, lines):
    with open(path, "wb") as f:
        f.write(gzip.compress("".join(lines).encode("utf-8"), compresslevel=9, mtime=0))


def encode_all(tok, texts):
    lines = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        lines.append(dumps({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import tokenizers
    from tokenizers import Tokenizer

    here = os.path.dirname(args.corpus)
    os.makedirs(args.out, exist_ok=True)
    tok = Tokenizer.from_str(read_text(args.tokenizer))  # tokenizer.json or .json.gz

    chunks = read_text(args.corpus).split(SEP)
    write_gz(os.path.join(args.out, "corpus_expected.jsonl.gz"), encode_all(tok, chunks))

    cases = read_text(os.path.join(here, "decode_cases.txt")).split("\n")[:-1]
    lines = []
    for line in cases:
        ids = [int(x) for x in line.split(" ")] if line else []
        lines.append(dumps({"ids": ids,
                            "text": tok.decode(ids, skip_special_tokens=False),
                            "text_skip_special": tok.decode(ids, skip_special_tokens=True)}))
    write_gz(os.path.join(args.out, "decode_expected.jsonl.gz"), lines)

    variant_cases = read_text(os.path.join(here, "variant_cases.txt.gz")).split(SEP)
    for name in ["variant_prefix", "variant_noregex"]:
        vt = Tokenizer.from_file(os.path.join(here, name + ".json"))
        write_gz(os.path.join(args.out, name + "_expected.jsonl.gz"), encode_all(vt, variant_cases))

    meta = {
        "tool": f"tokenizers (Python) {tokenizers.__version__}",
        "python": platform.python_version(),
        "tokenizer_sha256": sha256(args.tokenizer),
        "corpus_sha256": sha256(args.corpus),
        "corpus_chunks": len(chunks),
        "decode_cases": len(cases),
        "variant_cases": len(variant_cases),
    }
    with open(os.path.join(args.out, "tokenizer_fixture_meta.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
