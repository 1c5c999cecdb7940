// rcc serve under raw HTTP: malformed and hostile requests get OpenAI error objects with 4xx (never
// a crash or a hang: /health answers after each group), limits hold, a client that leaves
// mid-stream costs nothing, kill -9 during a compression leaves a consistent store, memories of
// another model are refused with 409, and a bounded load (32 clients x 5 questions) answers every
// question correctly. Run by ctest with RCC_BINARY and RCC_MODEL set.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const RCC = process.env.RCC_BINARY;
const MODEL = process.env.RCC_MODEL;
assert.ok(RCC && MODEL, 'RCC_BINARY and RCC_MODEL must be set');
const dirs = [];
const tmp = (p) => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d; };
const servers = new Set();

function startServer(store, extra = [], model = MODEL) {
  return new Promise((resolve, reject) => {
    const p = spawn(RCC, ['serve', '--model', model, '--port', '0', '--store', store,
                          '--threads', '2', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    servers.add(p);
    let err = '';
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + err)), 120000);
    p.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && !p.url) { p.url = `http://127.0.0.1:${m[1]}`; p.port = Number(m[1]); clearTimeout(timer); resolve(p); }
    });
    p.on('exit', (code, sig) => { servers.delete(p); if (!p.url) reject(new Error(`exited ${code} ${sig}:\n${err}`)); });
    p.log = () => err;
  });
}
const stop = (p, sig = 'SIGTERM') => new Promise((r) => { p.on('exit', (c, s) => r({ c, s })); p.kill(sig); });

after(async () => {
  for (const p of servers) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function call(srv, method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!init.headers['Content-Type']) init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(srv.url + path, init);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// An OpenAI error object with `status` (and `code` when given).
async function expectError(srv, method, path, body, status, code, headers) {
  const r = await call(srv, method, path, body, headers);
  assert.equal(r.status, status, `${method} ${path}: ${r.text.slice(0, 300)}`);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string' &&
            typeof r.json.error.type === 'string', `error object: ${r.text.slice(0, 300)}`);
  if (code) assert.equal(r.json.error.code, code, r.text.slice(0, 300));
  return r.json.error;
}

async function healthy(srv) {
  const r = await call(srv, 'GET', '/health');
  assert.equal(r.status, 200, 'the server still answers: ' + srv.log().slice(-2000));
}

async function waitStatus(srv, id, want, seconds = 120) {
  for (let i = 0; i < seconds * 10; i++) {
    const r = await call(srv, 'GET', `/v1/memories/${id}`);
    if (want.includes(r.json.status)) return r.json;
    if (r.json.status === 'failed') throw new Error(`memory failed: ${r.json.error}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`memory ${id} not ${want} in ${seconds} s`);
}

const QUESTION = [{ role: 'user', content: 'What is the pass key?' }];
const filler = 'The grass is green. The sky is blue. The sun is bright. Birds sing in the trees. ';

test('rcc serve over raw HTTP', async (t) => {
  const store = tmp('rcc-http-test-');
  const srv = await startServer(store, ['--max-body-mib', '1', '--max-tokens', '64',
                                        '--max-context-tokens', '300000', '--max-jobs', '4',
                                        '--parallel', '40']);
  const chat = '/v1/chat/completions';

  await t.test('malformed bodies and wrong types: 400', async () => {
    await expectError(srv, 'POST', chat, '{', 400, 'invalid_json');
    await expectError(srv, 'POST', chat, '[]', 400, 'invalid_json');
    await expectError(srv, 'POST', chat, '', 400, 'invalid_json');
    await expectError(srv, 'POST', chat, '['.repeat(100000), 400, 'invalid_json');
    await expectError(srv, 'POST', chat, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400);
    await expectError(srv, 'POST', chat, {}, 400);
    await expectError(srv, 'POST', chat, { messages: 'hi' }, 400);
    await expectError(srv, 'POST', chat, { messages: [{ role: 'wizard', content: 'x' }] }, 400);
    await expectError(srv, 'POST', chat, { messages: [{ role: 'system', content: 'x' }] }, 400);
    await expectError(srv, 'POST', chat, { messages: [{ role: 'user', content: 7 }] }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, max_tokens: 1e6 }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, max_tokens: 2.5 }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, temperature: 'hot' }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, top_p: 0 }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, n: 0 }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, n: 100 }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, stop: ['a', 'b', 'c', 'd', 'e'] }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, stop: [''] }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, memories: 'mem_0123456789abcdef' }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, memories: ['../../etc/passwd'] }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, memories: ['mem_0123456789abcdef'] }, 404, 'memory_not_found');
    await expectError(srv, 'POST', chat, { messages: QUESTION, question_mode: 'ir' }, 400);
    await expectError(srv, 'POST', chat, { messages: QUESTION, model: 'gpt-4o' }, 404, 'model_not_found');
    await expectError(srv, 'POST', '/v1/completions', { prompt: [1, -2] }, 400);
    await expectError(srv, 'POST', '/v1/completions', { prompt: [50000000] }, 400);
    await expectError(srv, 'POST', '/v1/completions', { prompt: {} }, 400);
    await healthy(srv);
  });

  await t.test('limits: body size, context tokens, routes, pagination', async () => {
    await expectError(srv, 'POST', chat, JSON.stringify({ messages: QUESTION, x: 'a'.repeat(2 << 20) }), 413);
    await expectError(srv, 'POST', '/v1/memories', { text: 'word '.repeat(400000) }, 413);
    await expectError(srv, 'POST', '/v1/memories', { ids: Array(300001).fill(1) }, 400, 'context_length_exceeded');
    await expectError(srv, 'GET', '/v1/nothing', undefined, 404);
    await expectError(srv, 'GET', '/v1/memories/xyz', undefined, 404);
    await expectError(srv, 'DELETE', '/v1/memories/mem_0123456789abcdef', undefined, 404);
    await expectError(srv, 'GET', '/v1/memories?limit=1000', undefined, 400);
    await expectError(srv, 'GET', '/v1/memories?after=zzz', undefined, 400);
    await expectError(srv, 'POST', '/v1/memories', { text: 'a', ids: [1] }, 400);
    await expectError(srv, 'POST', '/v1/memories', {}, 400);
    await expectError(srv, 'POST', '/v1/memories', { ids: [-1] }, 400);
    await expectError(srv, 'POST', '/v1/memories', { ids: [99999999] }, 400);
    await expectError(srv, 'POST', '/v1/memories', { text: '' }, 400);
    await expectError(srv, 'POST', '/v1/memories', { text: 'a', mode: 'sideways' }, 400);
    await healthy(srv);
  });

  await t.test('garbage on the socket and a client leaving mid-stream', async () => {
    for (const junk of ['NOT HTTP AT ALL\r\n\r\n', 'GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
                        'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{']) {
      await new Promise((res) => {
        const s = net.connect(srv.port, '127.0.0.1', () => s.end(junk));
        s.on('data', () => {}); s.on('close', res); s.on('error', res);
        setTimeout(() => { s.destroy(); res(); }, 3000);
      });
    }
    const mem = await call(srv, 'POST', '/v1/memories', { text: filler.repeat(20) + ' The pass key is 31415. ' });
    await waitStatus(srv, mem.json.id, ['ready']);
    const ac = new AbortController();
    const r = await fetch(srv.url + chat, { method: 'POST', signal: ac.signal, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: QUESTION, memories: [mem.json.id], max_tokens: 64, stream: true }) });
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
    await healthy(srv);
    const m = await call(srv, 'GET', '/metrics');
    assert.match(m.text, /^rcc_requests_total \d+/m);
    assert.match(m.text, /^rcc_decoder_cache_misses_total \d+/m);
  });

  await t.test('compat memories are not appended to: 409', async () => {
    const c = await call(srv, 'POST', '/v1/memories', { text: filler.repeat(3), mode: 'compat' });
    assert.equal(c.status, 202);
    await waitStatus(srv, c.json.id, ['ready']);
    await expectError(srv, 'POST', `/v1/memories/${c.json.id}/append`, { text: 'more' }, 409, 'not_appendable');
  });

  await t.test('32 clients x 5 questions, every answer right', async () => {
    const keys = ['27182', '16180', '14142', '17320'];
    const mems = [];
    for (const k of keys) {
      const r = await call(srv, 'POST', '/v1/memories', { text: filler.repeat(10) + ` The pass key is ${k}. Remember it. ${k} is the pass key. ` });
      mems.push(r.json.id);
    }
    for (const id of mems) await waitStatus(srv, id, ['ready']);
    const client = async (c) => {
      for (let q = 0; q < 5; q++) {
        const i = (c + q) % keys.length;
        const r = await call(srv, 'POST', chat, { messages: QUESTION, memories: [mems[i]], max_tokens: 12, stream: (c + q) % 2 === 0 });
        assert.equal(r.status, 200, r.text.slice(0, 300));
        const text = r.json ? r.json.choices[0].message.content
          : r.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)))
              .map((j) => j.choices[0]?.delta?.content ?? '').join('');
        assert.ok(text.includes(keys[i]), `client ${c} question ${q}: '${text}' lacks ${keys[i]}`);
      }
    };
    const metric = (text, name) => Number(text.match(new RegExp(`^${name} (\\S+)`, 'm'))[1]);
    const before = (await call(srv, 'GET', '/metrics')).text;
    await Promise.all(Array.from({ length: 32 }, (_, c) => client(c)));
    await healthy(srv);
    // Continuous batching: the answers decoded together, so the decoding steps (one forward pass
    // each) are far fewer than the tokens generated (one step per token if they took turns).
    const after = (await call(srv, 'GET', '/metrics')).text;
    const steps = metric(after, 'rcc_batch_steps_total') - metric(before, 'rcc_batch_steps_total');
    const tokens = metric(after, 'rcc_generated_tokens_total') - metric(before, 'rcc_generated_tokens_total');
    assert.ok(tokens >= 32 * 5, `${tokens} tokens generated`);
    assert.ok(steps * 2 < tokens, `${steps} decoding steps for ${tokens} tokens: not batched`);
  });

  await t.test('kill -9 during a compression, then restart: a consistent store', async () => {
    const ready = await call(srv, 'POST', '/v1/memories', { text: filler.repeat(5) });
    await waitStatus(srv, ready.json.id, ['ready']);
    const big = await call(srv, 'POST', '/v1/memories', { text: filler.repeat(12000) });
    assert.equal(big.status, 202, big.text);
    for (let i = 0; i < 600; i++) {  // until its first windows are done
      const r = await call(srv, 'GET', `/v1/memories/${big.json.id}`);
      if (r.json.progress && r.json.progress.done_tokens > 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await stop(srv, 'SIGKILL');
    const again = await startServer(store);
    const b = await call(again, 'GET', `/v1/memories/${big.json.id}`);
    assert.ok(b.json.status === 'failed' || b.json.status === 'ready', b.text);
    if (b.json.status === 'failed') assert.match(b.json.error, /interrupted/);
    const r = await call(again, 'GET', `/v1/memories/${ready.json.id}`);
    assert.equal(r.json.status, 'ready');
    const files = readdirSync(join(store, 'memories'));
    for (const f of files) assert.match(f, /^mem_[0-9a-f]{16}\.rccm$/, 'no temporaries left');
    if (b.json.status === 'failed') assert.ok(!files.includes(`${big.json.id}.rccm`));
    const list = await call(again, 'GET', '/v1/memories?limit=100');
    assert.ok(list.json.data.every((m) => m.status === 'ready' || m.status === 'failed'));
    await stop(again);
  });

  await t.test('a memory of another model: 409', async () => {
    const other = tmp('rcc-other-model-');
    writeFileSync(join(other, 'c.json'), JSON.stringify({ vocab_size: 50304, hidden_size: 32, num_hidden_layers: 1,
      num_attention_heads: 4, intermediate_size: 64, rcc: { window: 64, ratio: 8, mode: 'aligned' } }));
    execFileSync(RCC, ['init', '--config', join(other, 'c.json'), '--out', join(other, 'm'),
                       '--tokenizer', join(MODEL, 'tokenizer.json')]);
    const s2 = await startServer(store, [], join(other, 'm'));
    const list = await call(s2, 'GET', '/v1/memories?limit=100');
    const mine = list.json.data.find((m) => m.status === 'ready');
    assert.equal(mine.usable, false);
    await expectError(s2, 'POST', chat, { messages: QUESTION, memories: [mine.id] }, 409, 'model_mismatch');
    await expectError(s2, 'POST', `/v1/memories/${mine.id}/append`, { text: 'x' }, 409, 'model_mismatch');
    await stop(s2);
  });
});
