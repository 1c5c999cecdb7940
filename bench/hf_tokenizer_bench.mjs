#!/usr/bin/env node
// Hugging Face tokenizers (npm package: Node bindings of the Rust crate) encoding a file on one
// thread: the same chunks as `rcc tokenize --bench` (at least --chunk-bytes, default 4096, cut
// after a newline), encoded one at a time with add_special_tokens=false. Prints one JSON line like
// rcc's report.
//   node bench/hf_tokenizer_bench.mjs --tokenizer FILE --input FILE [--repeat 3] [--chunk-bytes N]
//        [--node-modules DIR]
import { createRequire } from 'module';
import fs from 'fs';
import zlib from 'zlib';
import path from 'path';

const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
if (!args.tokenizer || !args.input) throw new Error('--tokenizer and --input are required');
const base = args['node-modules'] || process.env.TOKENIZERS_NODE_MODULES;
const req = createRequire(base ? path.join(path.resolve(base), '..', 'x.js') : import.meta.url);
const { Tokenizer } = req('tokenizers');
const version = req('tokenizers/package.json').version;
const repeat = Number(args.repeat || 3);
const chunkBytes = Number(args['chunk-bytes'] || 4096);

const buf = fs.readFileSync(args.input);
const chunks = [];
for (let begin = 0; begin < buf.length; ) {
  let end = begin + chunkBytes;
  if (end >= buf.length) end = buf.length;
  else {
    const nl = buf.indexOf(0x0a, end);
    end = nl < 0 ? buf.length : nl + 1;
  }
  chunks.push(buf.subarray(begin, end).toString('utf8'));
  begin = end;
}

// tokenizer.json, or gzip-compressed tokenizer.json.gz
const tokBytes = fs.readFileSync(args.tokenizer);
const tok = Tokenizer.fromString(
  (args.tokenizer.endsWith('.gz') ? zlib.gunzipSync(tokBytes) : tokBytes).toString('utf8'));
let first = 0, best = Infinity, tokens = 0;
const passes = [];
for (let r = 0; r < repeat; r++) {
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (const c of chunks) n += (await tok.encode(c, null, { addSpecialTokens: false })).getLength();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  passes.push(s);
  if (r === 0) first = s;
  best = Math.min(best, s);
  tokens = n;
}
console.log(JSON.stringify({
  encoder: `huggingface tokenizers ${version} (npm)`, bytes: buf.length, chunks: chunks.length, tokens,
  chunk_bytes: chunkBytes, repeat, pass_seconds: passes, first_seconds: first, best_seconds: best,
  first_mb_per_s: buf.length / 1e6 / first, best_mb_per_s: buf.length / 1e6 / best,
}));
