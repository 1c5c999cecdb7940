#!/usr/bin/env node
// Hugging Face's NFC and NFD (the normalizers of the Rust crate) on probes per code point c:
//   D = NFD(c); NFC(D) (does composition give c back?); NFC(c U+0316 U+0301) (reordering after c,
//   composition with c); NFC("e" c U+0301) (does c block "e" + U+0301 -> U+00E9? It does when HF
//   gives it class 0 or 230).
// Output: nfc_probes.txt.gz, lines "CP D NFC1 NFC2 NFC3" (hex code point, then the UTF-8 of each
// result in hex), only for the code points where some result differs from its input; every other
// code point is left unchanged by HF on all of them. The rcc test TokenizerUnicode.
// NfcMatchesHuggingFaceForEveryCodePoint reads it.
//
//   node tests/reference/make_nfc_fixture.mjs --out tests/fixtures/tokenizer \
//     [--node-modules /tmp/hftok/node_modules]
import path from 'path';
import { loadTokenizers, parseArgs, writeGz } from './node_common.mjs';

const args = parseArgs(['out']);
const { tk, version } = loadTokenizers(args['node-modules']);
const nfc = tk.nfcNormalizer();
const nfd = tk.nfdNormalizer();
const hex = (s) => Buffer.from(s, 'utf8').toString('hex');
const lines = [`# NFC/NFD probes of Hugging Face tokenizers ${version} (npm), Node ${process.version}\n`];
for (let cp = 0; cp < 0x110000; ++cp) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  const d = nfd.normalizeString(c);
  const probes = [c, d, c + '\u0316\u0301', 'e' + c + '\u0301'];
  const got = [d, ...probes.slice(1).map((p) => nfc.normalizeString(p))];
  if (got.some((g, i) => g !== probes[i]))
    lines.push(`${cp.toString(16).toUpperCase()} ${got.map(hex).join(' ')}\n`);
}
writeGz(path.join(args.out, 'nfc_probes.txt.gz'), lines);
console.error(`wrote ${lines.length - 1} code points`);
