// Helpers shared by the Node fixture generators (make_tokenizer_fixtures.mjs,
// make_bpe_trainer_fixtures.mjs): arguments, the Hugging Face `tokenizers` package, gzip I/O.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';

// `--name value` pairs into {name: value}; every name in `required` must be present.
export function parseArgs(required) {
  const a = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    a[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of required) if (!a[k]) throw new Error(`--${k} is required`);
  return a;
}

// The npm package `tokenizers` from `dir` (a node_modules folder), $TOKENIZERS_NODE_MODULES, or
// normal resolution: {tk: the module, version: its package version}.
export function loadTokenizers(dir) {
  const base = dir || process.env.TOKENIZERS_NODE_MODULES;
  const req = createRequire(base ? path.join(path.resolve(base), '..', 'x.js') : import.meta.url);
  return { tk: req('tokenizers'), version: req('tokenizers/package.json').version };
}

// A UTF-8 text file, gunzipped when its name ends in .gz.
export const readText = (p) => {
  const buf = fs.readFileSync(p);
  return (p.endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8');
};

// Writes `text` (a string, or an array of strings joined as they are) gzipped at level 9.
export const writeGz = (p, text) =>
  fs.writeFileSync(
    p,
    zlib.gzipSync(Buffer.from(Array.isArray(text) ? text.join('') : text, 'utf8'), { level: 9 }),
  );
