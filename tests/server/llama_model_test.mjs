// `rcc serve` on an RCC model of the Llama family (Qwen3-shaped, random weights, the real Qwen3
// tokenizer), through the official `openai` npm client: the model is made here with `rcc init`,
// a memory is compressed through the API and a chat completion reads it. Answers are noise
// (random weights); the test checks that every step of serving works on this family. Run by
// ctest (tests/CMakeLists.txt) with RCC_BINARY and RCC_DATA set.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const RCC = process.env.RCC_BINARY, DATA = process.env.RCC_DATA;
assert.ok(RCC && DATA, 'RCC_BINARY and RCC_DATA must be set');
const dir = mkdtempSync(join(tmpdir(), 'rcc-llama-serve-'));
let server = null;

after(() => {
  if (server) server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('rcc serve with a Qwen3-shaped RCC model', async () => {
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify({
    model_type: 'qwen3', vocab_size: 151936, hidden_size: 32, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 64,
    rope_theta: 1000000, max_position_embeddings: 4096, rms_norm_eps: 1e-6,
    eos_token_id: 151643, rcc: { window: 64, ratio: 8, mode: 'aligned' } }));
  writeFileSync(join(dir, 'tokenizer.json'),
                gunzipSync(readFileSync(join(DATA, 'tokenizers/qwen3/tokenizer.json.gz'))));
  const model = join(dir, 'model');
  execFileSync(RCC, ['init', '--config', join(dir, 'cfg.json'), '--out', model, '--tokenizer',
                     join(dir, 'tokenizer.json')], { stdio: 'ignore' });
  const key = 'k-' + Math.random().toString(16).slice(2);
  server = spawn(RCC, ['serve', '--model', model, '--port', '0', '--store', join(dir, 'store'),
                       '--api-key', key, '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + err)), 120000);
    server.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    server.on('exit', (code) => reject(new Error(`server exited (${code}):\n${err}`)));
  });
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 });
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.equal(ids.length, 1);
  const made = await client.post('/memories', {
    body: { text: 'The cat sat on the sofa. 猫はソファに座った。 '.repeat(20), name: 'cats' } });
  let mem;
  for (let i = 0; i < 600; i++) {
    mem = await client.get(`/memories/${made.id}`);
    if (mem.status !== 'compressing') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(mem.status, 'ready', JSON.stringify(mem));
  assert.ok(mem.tokens > 100 && mem.slots > 0);
  const r = await client.chat.completions.create({
    model: ids[0], messages: [{ role: 'user', content: 'Where did the cat sit?' }],
    memories: [made.id], max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);
});
