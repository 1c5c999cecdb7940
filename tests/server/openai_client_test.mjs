// The official `openai` npm client against `rcc serve` on the bundled model (CPU): the server is
// started here on a free loopback port with a fresh store and an API key. Checks what the client
// parses: models, memories made and appended through the client's generic post/get, chat
// completions with `memories` streamed and not (same answer, the pass key hidden in the memory),
// two memories read as one, text completions, errors as the client's typed exceptions, and a
// restart that keeps every memory. Run by ctest (tests/CMakeLists.txt) with RCC_BINARY set.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const RCC = process.env.RCC_BINARY;
assert.ok(RCC, 'RCC_BINARY must name the rcc binary');
const store = mkdtempSync(join(tmpdir(), 'rcc-openai-test-'));
const apiKey = 'test-key-' + Math.random().toString(16).slice(2);
let server = null;

// Starts `rcc serve --port 0` and resolves with the port it prints.
function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(RCC, ['serve', '--port', '0', '--store', store, '--api-key', apiKey,
                          '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + err)), 120000);
    p.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && !p.port) {
        p.port = Number(m[1]);
        clearTimeout(timer);
        resolve(p);
      }
    });
    p.on('exit', (code) => reject(new Error(`server exited (${code}):\n${err}`)));
  });
}

function stopServer(p) {
  return new Promise((resolve) => {
    p.removeAllListeners('exit');
    p.on('exit', (code, sig) => resolve({ code, sig }));
    p.kill('SIGTERM');
  });
}

const clientFor = (p, key = apiKey) =>
  new OpenAI({ baseURL: `http://127.0.0.1:${p.port}/v1`, apiKey: key, maxRetries: 0 });

async function waitReady(client, id) {
  for (let i = 0; i < 600; i++) {
    const m = await client.get(`/memories/${id}`);
    if (m.status === 'ready') return m;
    assert.notEqual(m.status, 'failed', `memory ${id} failed: ${m.error}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`memory ${id} not ready in 60 s`);
}

const filler = 'The grass is green. The sky is blue. The sun is bright. Birds sing in the trees. '
  .repeat(40);
const KEY = '58213';
const QUESTION = [{ role: 'user', content: 'What is the pass key?' }];

after(async () => {
  if (server) await stopServer(server);
  rmSync(store, { recursive: true, force: true });
});

test('the openai client against rcc serve', async (t) => {
  server = await startServer();
  let client = clientFor(server);
  const model = 'rcc-tiny';

  await t.test('models.list', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, [model]);
  });

  let keyMem, fillerMem;
  await t.test('memories are made, appended to and listed', async () => {
    const a = await client.post('/memories', {
      body: { text: filler + ` The pass key is ${KEY}. Remember it. ${KEY} is the pass key. `,
              name: 'key' } });
    assert.equal(a.object, 'memory');
    assert.equal(a.status, 'compressing');
    const b = await client.post('/memories', { body: { text: filler, name: 'filler' } });
    keyMem = (await waitReady(client, a.id)).id;
    const ready = await waitReady(client, b.id);
    fillerMem = ready.id;
    assert.equal(ready.mode, 'aligned');
    assert.ok(ready.tokens > 500 && ready.slots > 0 && ready.bytes > 0);
    const list = await client.get('/memories', { query: { limit: 1 } });
    assert.equal(list.data.length, 1);
    assert.equal(list.has_more, true);
    assert.equal(list.data[0].id, fillerMem, 'newest first');
  });

  let answer;
  await t.test('chat completion with memories (not streamed)', async () => {
    const r = await client.chat.completions.create({
      model, messages: QUESTION, memories: [keyMem], max_tokens: 16, temperature: 0 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    answer = r.choices[0].message.content;
    assert.ok(answer.includes(KEY), `the answer '${answer}' holds the pass key`);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.completion_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  await t.test('the same, streamed: one chunk per token, the same text', async () => {
    const stream = await client.chat.completions.create({
      model, messages: QUESTION, memories: [keyMem], max_tokens: 16, temperature: 0,
      stream: true, stream_options: { include_usage: true } });
    let text = '', chunks = 0, finish = null, usage = null;
    for await (const c of stream) {
      assert.equal(c.object, 'chat.completion.chunk');
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) {
        if (ch.delta?.content) { text += ch.delta.content; chunks++; }
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(text, answer);
    assert.ok(chunks >= 3, `${chunks} content chunks`);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0 && usage.rcc.decoder_cache_hit === true);
  });

  await t.test('two memories read as one, in order', async () => {
    const r = await client.chat.completions.create({
      model, messages: QUESTION, memories: [fillerMem, keyMem], max_tokens: 16 });
    assert.ok(r.choices[0].message.content.includes(KEY), r.choices[0].message.content);
    assert.equal(r.usage.rcc.memory_slots > 0, true);
  });

  await t.test('an append reaches the answer', async () => {
    const m = await client.post(`/memories/${fillerMem}/append`, {
      body: { text: ` The pass key is 70415. Remember it. 70415 is the pass key. ` } });
    assert.equal(m.status, 'appending');
    await waitReady(client, fillerMem);
    const r = await client.chat.completions.create({
      model, messages: QUESTION, memories: [fillerMem], max_tokens: 16 });
    assert.ok(r.choices[0].message.content.includes('70415'), r.choices[0].message.content);
  });

  await t.test('a request context (instruction reconstruction)', async () => {
    const r = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Where does the cat sit?' }],
      context: 'The cat sat on the sofa.' + ' The dog sat on the stool.'.repeat(30), max_tokens: 48 });
    assert.ok(r.choices[0].message.content.includes('sofa'), r.choices[0].message.content);
  });

  await t.test('text completions, streamed and not', async () => {
    const r = await client.completions.create({ model, prompt: 'The pass key is', max_tokens: 4,
                                                memories: [keyMem] });
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    assert.equal(r.usage.completion_tokens, 4);
    assert.equal(r.choices[0].finish_reason, 'length');
    let text = '';
    for await (const c of await client.completions.create({
      model, prompt: 'The pass key is', max_tokens: 4, memories: [keyMem], stream: true }))
      text += c.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text);
  });

  await t.test('errors are the client\'s typed exceptions', async () => {
    await assert.rejects(clientFor(server, 'wrong').models.list(), OpenAI.AuthenticationError);
    await assert.rejects(
      client.chat.completions.create({ model, messages: QUESTION, memories: ['mem_0123456789abcdef'] }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === 'memory_not_found');
    await assert.rejects(
      client.chat.completions.create({ model, messages: QUESTION, max_tokens: -3 }),
      (e) => e instanceof OpenAI.BadRequestError && /max_tokens/.test(e.message));
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: QUESTION }),
                         OpenAI.NotFoundError);
  });

  await t.test('a restart keeps every memory', async () => {
    const before = await client.get(`/memories/${keyMem}`);
    const { code } = await stopServer(server);
    assert.equal(code, 0, 'SIGTERM stops the server cleanly');
    server = await startServer();
    client = clientFor(server);
    const m = await client.get(`/memories/${keyMem}`);
    assert.equal(m.status, 'ready');
    assert.equal(m.slots, before.slots);
    const r = await client.chat.completions.create({
      model, messages: QUESTION, memories: [keyMem], max_tokens: 16, temperature: 0 });
    assert.equal(r.choices[0].message.content, answer);
    const del = await client.delete(`/memories/${keyMem}`);
    assert.equal(del.deleted, true);
    await assert.rejects(client.get(`/memories/${keyMem}`), OpenAI.NotFoundError);
  });
});
