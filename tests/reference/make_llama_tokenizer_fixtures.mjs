#!/usr/bin/env node
// Expected ids and texts for the Llama 3, Qwen 3 and Mistral 7B v0.1 (Llama 2 style) tokenizers (data/tokenizers/) and for
// the variants of tests/fixtures/tokenizer/llama_variants.json (a bundled file with some fields
// replaced), from Hugging Face `tokenizers` (npm: the official Node bindings of the Rust crate).
//
//   node tests/reference/make_llama_tokenizer_fixtures.mjs --root . --out tests/fixtures/tokenizer \
//     [--node-modules /tmp/hftok/node_modules]
//
// For each tokenizer NAME it writes NAME_expected.jsonl.gz, one JSON object per line:
//   {"chunk": i, "ids": [...]}          corpus.txt.gz chunk i (every STRIDE-th chunk)
//   {"text": "...", "ids": [...]}       a targeted case
//   {"hex": "...", "ids": [...]}        raw bytes (possibly invalid UTF-8); HF encodes their lossy
//                                       UTF-8 decoding (every maximal invalid subpart -> U+FFFD)
//   {"decode": [...], "text": "...", "text_skip": "..."}   decode(ids, false) / decode(ids, true)
// Encoded lines carry "decoded" (decode(ids, false)) only when it differs from the input text.
// Also llama_fixture_meta.json (tool, version, checksums, counts).
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import { loadTokenizers, parseArgs, readText, writeGz } from './node_common.mjs';

const SEP = '\x1e';

const TOKENIZERS = [
  { name: 'llama-3', file: 'data/tokenizers/llama-3/tokenizer.json.gz', stride: 5 },
  { name: 'qwen3', file: 'data/tokenizers/qwen3/tokenizer.json.gz', stride: 5 },
  { name: 'mistral-7b-v0.1', file: 'data/tokenizers/mistral-7b-v0.1/tokenizer.json.gz', stride: 5 },
];

// Targeted inputs: whitespace, digits, contractions, emoji, CJK, special tokens in text,
// Metaspace prefixes, code points missing from the vocabularies, Unicode versions.
const CASES = [
  '', ' ', '  ', '   ', '\n', '\n\n', '\n\n\n', ' \n', ' \n ', '\n \n', '\r\n', '\r\n\r\n', '\t',
  'a  b', 'a   b', 'a \n b', 'a\n\nb', 'a\t\tb', 'a \t\n b', '   x', 'x   ', ' x ', '\n  x',
  'Hello world', ' Hello world', '  Hello world', 'Hello  world  ', 'Hello\nworld\n',
  '1', '12', '123', '1234', '1234567', '12345678901', ' 1 22 333 4444 55555', 'x1234y',
  '3.14159', '1,000,000', '2024-01-01', '\u0663\u0664\u0665\u0666\u0667', '\uff11\uff12\uff13\uff14',
  "it's", "It'S", "I'LL", "WE'RE", "you'Ve", "don'T", "she'd", "I'M", "'s", "'S'", "''ll", "O'Neil",
  "'\u017f", "x'\u017f", "'\u212a", "rock'n'roll", "' s", "'", "a'", "'x",
  '\u{1F44D}', '\u{1F44D}\u{1F3FD}', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', '\u{1F1EB}\u{1F1F7}',
  '\u{1F980} crab', 'smile \u{1F600}\u{1F600}\u{1F600}',
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8', '\u4e2d\u6587\u6d4b\u8bd5\uff0c\u6807\u70b9\u3002',
  '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8', '\u0928\u092e\u0938\u094d\u0924\u0947', '\u0645\u0631\u062d\u0628\u0627',
  '<|begin_of_text|>Hello<|end_of_text|>', '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>',
  ' <|begin_of_text|> x', '<|begin_of_text|', '<|reserved_special_token_3|>',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', '<think>\nok\n</think>\n\n', '<|endoftext|>',
  '<s>Hello</s>', '<s> Hello', 'a<s>b', ' <s> ', '<unk>', '</s></s>', '<s>', 'x</s>',
  'Hello', '\u2581Hello', '\u2581\u2581x', 'a \u2581 b', '\u2581', ' \u2581', '  Hello  ', 'Hello \u2581',
  '\u{1D518}\u{1D52B}\u{1D526}\u{1D520}\u{1D52C}\u{1D521}\u{1D522}', '\ua66e', '\u16a0\u16c7\u16bb',
  '\u{13000}', '\u0000', '\u0001x\u0002', '\u007f', '\u{10FFFD}', '\ue000', '\ufffd', '\ufeffBOM',
  '\u{31350}\u{31351}', '\u{11F00}\u{11F01}', '\u{2EBF0}', 'a\u180Eb', 'a \u180E b', '\u180E',
  '\u00a0x\u00a0 y', 'a\u2028b', 'a\u3000b', 'a\u0085b', 'a\u200bb',
  'e\u0301', 'caf\u00e9 cafe\u0301', '\u212b', 'A\u030a', '\u1100\u1161\u11a8',
  'a'.repeat(3000), ' '.repeat(500), '1'.repeat(100), '\n'.repeat(100), 'ab '.repeat(300),
  '\u4e2d'.repeat(200), '\u{1F600}'.repeat(50), 'x\u{1F600}'.repeat(50),
  'def f(x):\n    return x ** 2  # square\n', '{"a": [1, 2, 3]}\r\n', 'C:\\path\\to\\file.txt',
  'https://example.com/a?b=c&d=e#f', '<html><body class="x">Hi</body></html>',
];

// Raw byte strings, most of them invalid UTF-8.
const HEX_CASES = ['61ff62', 'e282', 'e282ac', 'f0908080', 'c0af', 'eda080', '80', 'ff', 'f4908080',
  '2020ff2020', 'e4b8ade4b8', 'ce', '3c733eff3c2f733e'];

function rng(seed) {  // xorshift32: reproducible random decode cases
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function decodeCases(vocabSize, specialIds, byteTokenBase, seed) {
  const r = rng(seed);
  const cases = [[], [0], [vocabSize - 1], [vocabSize], [vocabSize + 1000]];
  cases.push(specialIds.slice(0, 4));
  for (let i = 0; i < 120; ++i) {
    const n = 1 + Math.floor(r() * 12);
    const ids = [];
    for (let k = 0; k < n; ++k) {
      const u = r();
      if (u < 0.1 && specialIds.length) ids.push(specialIds[Math.floor(r() * specialIds.length)]);
      else if (u < 0.35 && byteTokenBase >= 0) ids.push(byteTokenBase + Math.floor(r() * 256));
      else if (u < 0.4) ids.push(vocabSize + Math.floor(r() * 10));  // unknown
      else ids.push(Math.floor(r() * vocabSize));
    }
    cases.push(ids);
  }
  return cases;
}

const sha256 = (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

// Applies a variant's "set" (top-level fields replaced) to the base tokenizer.json text.
function variantJson(root, v) {
  const j = JSON.parse(readText(path.join(root, v.base)));
  for (const [k, val] of Object.entries(v.set)) j[k] = val;
  return JSON.stringify(j);
}

async function encodeLine(tok, key, text) {
  const enc = await tok.encode(text, null, { addSpecialTokens: false });
  const ids = Array.from(enc.getIds());
  const decoded = await tok.decode(ids, false);
  const o = { ...key, ids };
  if (decoded !== text) o.decoded = decoded;
  return JSON.stringify(o) + '\n';
}

async function main() {
  const args = parseArgs(['root', 'out']);
  const { tk, version } = loadTokenizers(args['node-modules']);
  const root = args.root;
  const corpusPath = path.join(root, 'tests/fixtures/tokenizer/corpus.txt.gz');
  const chunks = readText(corpusPath).split(SEP);
  const variants = JSON.parse(readText(path.join(root, 'tests/fixtures/tokenizer/llama_variants.json')));
  const jobs = TOKENIZERS.map((t) => ({ ...t, json: readText(path.join(root, t.file)) }));
  for (const [name, v] of Object.entries(variants))
    jobs.push({ name, file: v.base, stride: 20, json: variantJson(root, v) });

  const meta = { tool: `tokenizers (npm, Node bindings of the Rust crate) ${version}`,
    node: process.version, corpus_sha256: sha256(readText(corpusPath)), tokenizers: {} };
  for (const job of jobs) {
    const tok = tk.Tokenizer.fromString(job.json);
    const lines = [];
    let nIds = 0;
    const count = (line) => { nIds += JSON.parse(line).ids.length; return line; };
    for (let i = 0; i < chunks.length; i += job.stride)
      lines.push(count(await encodeLine(tok, { chunk: i }, chunks[i])));
    for (const text of CASES) lines.push(count(await encodeLine(tok, { text }, text)));
    for (const hex of HEX_CASES) {
      const text = Buffer.from(hex, 'hex').toString('utf8');  // WHATWG: maximal subparts -> U+FFFD
      lines.push(count(await encodeLine(tok, { hex }, text)));
    }
    const parsed = JSON.parse(job.json);
    const vocabSize = tok.getVocabSize(true);
    const specialIds = (parsed.added_tokens || []).filter((a) => a.special).map((a) => a.id);
    const byteBase = parsed.model.vocab['<0x00>'] ?? -1;
    const dc = decodeCases(vocabSize, specialIds, byteBase, 12345 + job.name.length);
    for (const ids of dc) {
      const text = await tok.decode(ids.filter((id) => id < vocabSize + 1e6), false);
      const textSkip = await tok.decode(ids, true);
      lines.push(JSON.stringify({ decode: ids, text, text_skip: textSkip }) + '\n');
    }
    writeGz(path.join(args.out, `${job.name}_expected.jsonl.gz`), lines);
    meta.tokenizers[job.name] = { tokenizer: job.file, tokenizer_sha256: sha256(job.json),
      stride: job.stride, lines: lines.length, ids: nIds, decode_cases: dc.length };
    console.log(job.name, JSON.stringify(meta.tokenizers[job.name]));
  }
  fs.writeFileSync(path.join(args.out, 'llama_fixture_meta.json'), JSON.stringify(meta, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
