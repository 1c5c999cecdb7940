#!/usr/bin/env node
// The character classes of Hugging Face's GPT-2 split (the ByteLevel pre-tokenizer's regex, run by
// Oniguruma inside the Rust crate) for every Unicode code point, read back from the peer itself:
// each code point c is put in probe strings and the pieces HF returns say its class.
//   L (letter):  "a" c "1" -> ["a"c, "1"]         (\p{L} joins the letter run)
//   N (number):  "a" c "1" -> ["a", c"1"]         (\p{N} joins the digit)
//   S (space) vs O (other): "x " c "x" -> 4 pieces for a space (" " then c alone), 3 for other
//                (" " c, from " ?[^\s\p{L}\p{N}]+")
// U+0020 itself is the literal of " ?" and is set to S; surrogates (not encodable) are written as O.
// Output: gpt2_split_classes.txt.gz, lines "FIRST LAST CLASS" (hex code points, inclusive ranges,
// CLASS one of L N S O), covering U+0000..U+10FFFF. The rcc test TokenizerUnicode.
// CharClassMatchesHuggingFaceForEveryCodePoint reads it.
//
//   node tests/reference/make_split_class_fixture.mjs --out tests/fixtures/tokenizer \
//     [--node-modules /tmp/hftok/node_modules]
import fs from 'fs';
import path from 'path';
import { loadTokenizers, parseArgs, writeGz } from './node_common.mjs';

const args = parseArgs(['out']);
const { tk, version } = loadTokenizers(args['node-modules']);
const pre = tk.byteLevelPreTokenizer(false, true);
const pieces = (s) => pre.preTokenizeString(s).map((p) => p[0]);

function classOf(cp) {
  if (cp === 0x20) return 'S';
  if (cp >= 0xd800 && cp <= 0xdfff) return 'O';
  const c = String.fromCodePoint(cp);
  const a = pieces('a' + c + '1');
  if (a.length === 2) return pieces('a' + c).length === 1 ? 'L' : 'N';
  const b = pieces('x ' + c + 'x');
  if (b.length === 3) return 'O';
  if (b.length === 4) return 'S';
  throw new Error(`U+${cp.toString(16)}: unexpected pieces ${JSON.stringify(b)}`);
}

const lines = [];
let first = 0;
let cls = classOf(0);
for (let cp = 1; cp <= 0x110000; ++cp) {
  const k = cp < 0x110000 ? classOf(cp) : null;
  if (k !== cls) {
    lines.push(`${first.toString(16).toUpperCase()} ${(cp - 1).toString(16).toUpperCase()} ${cls}\n`);
    first = cp;
    cls = k;
  }
}
// Sanity: the ASCII classes every GPT-2 tokenizer agrees on.
const expect = { 0x41: 'L', 0x7a: 'L', 0x30: 'N', 0x21: 'O', 0x0a: 'S', 0x09: 'S', 0x3000: 'S', 0x4e2d: 'L' };
for (const [cp, k] of Object.entries(expect))
  if (classOf(Number(cp)) !== k) throw new Error(`probe failed on U+${Number(cp).toString(16)}`);
const header = `# GPT-2 split classes of Hugging Face tokenizers ${version} (npm), Node ${process.version}\n`;
writeGz(path.join(args.out, 'gpt2_split_classes.txt.gz'), [header, ...lines]);
console.error(`wrote ${lines.length} ranges`);
