#!/usr/bin/env node
// BPE trainer parity fixtures from Hugging Face `tokenizers` (npm package: the official Node
// bindings over the Rust crate), for tests/tokenizer_bpe_trainer_test.cpp.
//
//   node tests/reference/make_bpe_trainer_fixtures.mjs \
//     --wikitext data/text/wikitext-2-test.txt.gz \
//     --extra tests/fixtures/tokenizer/corpus.txt.gz --out tests/fixtures/tokenizer \
//     [--node-modules /tmp/hftok/node_modules] [--check-rcc DIR]
//
// 1. Builds the training corpus (bpe_train_corpus.txt.gz, ~300 KB): the first 250,000 bytes of
//    wikitext-2-test (whole lines), then every 8th chunk of --extra that has non-ASCII text and
//    normalizes the same under HF's NFC and JavaScript's (avoiding HF's older NFC tables, see
//    docs/tokenizer.md), up to 60,000 bytes. The held-out texts (bpe_heldout.txt.gz, chunks
//    separated by \x1e): 60 runs of lines from the end of wikitext and 40 other non-ASCII chunks.
// 2. Trains HF's BpeTrainer on it with Tokenizer.train([corpus]) and NFC + ByteLevel
//    (add_prefix_space=false). The Node bindings only offer the model's default trainer
//    (vocab_size 30000, min_frequency 0, no special tokens, the alphabet of the corpus); the
//    configured trainer (special tokens <|endoftext|>, <|padding|>, initial_alphabet =
//    ByteLevel.alphabet(), vocab_size V, min_frequency 2) makes the same merges in the same order:
//    ids enter the algorithm only through comparisons of pairs, and both id assignments are
//    increasing in the same order (specials first, then the alphabet sorted by code point, then
//    merges in order). So its result for V is the first V - 258 merges, provided that no merge
//    there reused an existing token (checked here: the i-th merge must create id alphabet + i) and
//    that every one of them had a count >= 2 (checked by the C++ test: rcc, with
//    min_frequency 2, must reach V).
//    Writes bpe_trainer_full_merges.txt.gz (every merge of the default run, one "a b" per line)
//    and, for V in 300, 1000, 4000, bpe_trainer_v{V}.json.gz (the tokenizer.json in the GPT-NeoX
//    layout that rcc writes) and bpe_trainer_v{V}_heldout.jsonl.gz (per held-out chunk: HF's ids
//    with that tokenizer).
// 3. With --check-rcc DIR: loads DIR/v{V}.json (written by `rcc data train-tokenizer` on
//    bpe_train_corpus.txt) into HF and checks that it encodes every held-out chunk to the
//    expected ids.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { loadTokenizers, parseArgs, readText, writeGz } from './node_common.mjs';

const SEP = '\x1e';
const SIZES = [300, 1000, 4000];
const SPECIALS = ['<|endoftext|>', '<|padding|>'];

const bytes = (s) => Buffer.byteLength(s, 'utf8');

function buildCorpus(tk, wikitext, extra) {
  const lines = wikitext.split(/(?<=\n)/);
  let train = '';
  let i = 0;
  while (i < lines.length && bytes(train) + bytes(lines[i]) <= 250000) train += lines[i++];
  const nfc = tk.nfcNormalizer();
  const nonAscii = extra
    .split(SEP)
    .filter((c) => /[^\x00-\x7f]/.test(c) && nfc.normalizeString(c) === c.normalize('NFC'));
  let extraBytes = 0;
  const heldExtra = [];
  for (let k = 0; k < nonAscii.length; ++k) {
    if (k % 8 === 0 && extraBytes < 60000) {
      const c = nonAscii[k].endsWith('\n') ? nonAscii[k] : nonAscii[k] + '\n';
      train += c;
      extraBytes += bytes(c);
    } else if (k % 8 === 4 && heldExtra.length < 40) {
      heldExtra.push(nonAscii[k]);
    }
  }
  // Held-out wikitext: 60 runs of 3 lines from the last 600 lines (never in the training part).
  const held = [];
  for (let r = 0; r < 60; ++r) {
    const s = lines.length - 600 + r * 10;
    held.push(lines.slice(s, s + 3).join(''));
  }
  return { train, held: held.concat(heldExtra) };
}

async function encodeAll(tok, texts) {
  const out = [];
  for (const t of texts) {
    const enc = await tok.encode(t, null, { addSpecialTokens: false });
    out.push(Array.from(enc.getIds()));
  }
  return out;
}

// tokenizer.json in the GPT-NeoX layout, as rcc writes it.
function tokenizerJson(alphabet, tokens, merges) {
  const vocab = {};
  SPECIALS.forEach((t, i) => (vocab[t] = i));
  for (const c of alphabet) vocab[c] = Object.keys(vocab).length;
  for (const t of tokens) vocab[t] = Object.keys(vocab).length;
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((t, i) => ({
      id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false,
      special: true,
    })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: bl,
    post_processor: bl,
    decoder: bl,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab,
      merges: merges.map((m) => m.join(' ')),
    },
  };
}

async function main() {
  const args = parseArgs(['wikitext', 'extra', 'out']);
  const { tk, version } = loadTokenizers(args['node-modules']);
  const { train, held } = buildCorpus(tk, readText(args.wikitext), readText(args.extra));
  writeGz(path.join(args.out, 'bpe_train_corpus.txt.gz'), train);
  writeGz(path.join(args.out, 'bpe_heldout.txt.gz'), held.join(SEP));

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bpe-fixture-'));
  const corpusPath = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(corpusPath, train);
  const tok = new tk.Tokenizer(tk.BPE.empty());
  tok.setNormalizer(tk.nfcNormalizer());
  tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
  tok.train([corpusPath]);
  const modelPath = path.join(tmp, 'trained.json');
  tok.save(modelPath, false);
  const model = JSON.parse(fs.readFileSync(modelPath, 'utf8')).model;
  const merges = model.merges.map((m) => (Array.isArray(m) ? m : m.split(' ')));
  const nAlpha = Object.keys(model.vocab).length - merges.length;
  // Merge i must have created id nAlpha + i: then no merge reused a token and none was repeated.
  let clean = merges.length;
  for (let i = 0; i < merges.length; ++i)
    if (model.vocab[merges[i][0] + merges[i][1]] !== nAlpha + i) {
      clean = i;
      break;
    }
  console.error(`HF ${version}: ${merges.length} merges, alphabet ${nAlpha}, clean prefix ${clean}`);
  writeGz(path.join(args.out, 'bpe_trainer_full_merges.txt.gz'),
          merges.map((m) => m.join(' ') + '\n').join(''));

  const alphabet = tk.byteLevelAlphabet().sort((x, y) => x.codePointAt(0) - y.codePointAt(0));
  const meta = { tool: `tokenizers ${version} (npm)`, full_merges: merges.length,
                 full_alphabet: nAlpha, full_vocab_limit_hit: merges.length + nAlpha >= 30000,
                 sizes: SIZES, train_bytes: bytes(train), heldout_chunks: held.length };
  for (const V of SIZES) {
    const n = V - SPECIALS.length - 256;
    if (n > clean) throw new Error(`V=${V}: a merge within the first ${n} reused a token`);
    const m = merges.slice(0, n);
    const json = tokenizerJson(alphabet, m.map((x) => x[0] + x[1]), m);
    writeGz(path.join(args.out, `bpe_trainer_v${V}.json.gz`), JSON.stringify(json, null, 2) + '\n');
    const hf = tk.Tokenizer.fromString(JSON.stringify(json));
    if (hf.getVocabSize(true) !== V) throw new Error(`V=${V}: HF vocab size ${hf.getVocabSize(true)}`);
    const ids = await encodeAll(hf, held);
    writeGz(path.join(args.out, `bpe_trainer_v${V}_heldout.jsonl.gz`),
            ids.map((x) => JSON.stringify(x) + '\n').join(''));
    if (args['check-rcc']) {
      const rcc = tk.Tokenizer.fromFile(path.join(args['check-rcc'], `v${V}.json`));
      const got = await encodeAll(rcc, held);
      const bad = got.filter((x, i) => JSON.stringify(x) !== JSON.stringify(ids[i])).length;
      console.error(`V=${V}: HF with rcc's tokenizer.json: ${held.length - bad}/${held.length} chunks equal`);
      if (bad) process.exitCode = 1;
    }
  }
  fs.writeFileSync(path.join(args.out, 'bpe_trainer_fixture_meta.json'),
                   JSON.stringify(meta, null, 2) + '\n');
  fs.rmSync(tmp, { recursive: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
