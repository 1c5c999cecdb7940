#!/usr/bin/env node
// Large tokenizer golden set from Hugging Face `tokenizers` (the npm package: official Node
// bindings over the Rust crate). Same inputs and outputs as make_tokenizer_fixtures.py.
//
//   node tests/reference/make_tokenizer_fixtures.mjs --corpus tests/fixtures/tokenizer/corpus.txt.gz \
//     --tokenizer data/tokenizers/gpt-neox-20b/tokenizer.json.gz --out tests/fixtures/tokenizer \
//     [--node-modules /tmp/hftok/node_modules]
//
// The package is found through --node-modules, $TOKENIZERS_NODE_MODULES, or normal resolution
// (install it outside the repository: cd /tmp/hftok && npm install tokenizers@0.23.2).
// Inputs beside --corpus: decode_cases.txt, variant_prefix.json, variant_noregex.json,
// variant_cases.txt.gz (all written by make_tokenizer_corpus.py). Outputs in --out:
//   corpus_expected.jsonl.gz   per corpus chunk: {"ids": [...], "decoded": "..."}
//   decode_expected.jsonl.gz   per decode case: {"ids": [...], "text": "...", "text_skip_special": "..."}
//   variant_prefix_expected.jsonl.gz, variant_noregex_expected.jsonl.gz: like corpus_expected
//   tokenizer_fixture_meta.json   tool, version, input checksums, counts
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { loadTokenizers, parseArgs, readText, writeGz } from './node_common.mjs';

const SEP = '\x1e';

// sha256 of a file's text (uncompressed when .gz), as recorded in the fixture meta.
const sha256 = (p) => crypto.createHash('sha256').update(readText(p), 'utf8').digest('hex');

async function encodeAll(tok, texts) {
  const lines = [];
  for (const t of texts) {
    const enc = await tok.encode(t, null, { addSpecialTokens: false });
    const ids = Array.from(enc.getIds());
    const decoded = await tok.decode(ids, false);
    lines.push(JSON.stringify({ ids, decoded }) + '\n');
  }
  return lines;
}

async function main() {
  const args = parseArgs(['corpus', 'tokenizer', 'out']);
  const { tk, version } = loadTokenizers(args['node-modules']);
  const { Tokenizer } = tk;
  const dir = path.dirname(args.corpus);
  fs.mkdirSync(args.out, { recursive: true });
  const tok = Tokenizer.fromString(readText(args.tokenizer));  // tokenizer.json or .json.gz

  const chunks = readText(args.corpus).split(SEP);
  writeGz(path.join(args.out, 'corpus_expected.jsonl.gz'), await encodeAll(tok, chunks));

  const decodeLines = [];
  const cases = readText(path.join(dir, 'decode_cases.txt')).split('\n');
  cases.pop();  // the text ends with a newline
  for (const line of cases) {
    const ids = line === '' ? [] : line.split(' ').map(Number);
    const text = await tok.decode(ids, false);
    const textSkip = await tok.decode(ids, true);
    decodeLines.push(JSON.stringify({ ids, text, text_skip_special: textSkip }) + '\n');
  }
  writeGz(path.join(args.out, 'decode_expected.jsonl.gz'), decodeLines);

  const variantCases = readText(path.join(dir, 'variant_cases.txt.gz')).split(SEP);
  for (const name of ['variant_prefix', 'variant_noregex']) {
    const vt = Tokenizer.fromFile(path.join(dir, `${name}.json`));
    writeGz(path.join(args.out, `${name}_expected.jsonl.gz`), await encodeAll(vt, variantCases));
  }

  const meta = {
    tool: `tokenizers (npm, Node bindings of the Rust crate) ${version}`,
    node: process.version,
    tokenizer_sha256: sha256(args.tokenizer),
    corpus_sha256: sha256(args.corpus),
    corpus_chunks: chunks.length,
    decode_cases: cases.length,
    variant_cases: variantCases.length,
  };
  fs.writeFileSync(path.join(args.out, 'tokenizer_fixture_meta.json'), JSON.stringify(meta, null, 1) + '\n');
  console.log(JSON.stringify(meta));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
