// Load driver for bench/serve_load.sh: C concurrent clients each send Q chat completions (the
// pass-key question on one stored memory, greedy, max_tokens M) to a running rcc serve; prints one
// JSON line: requests/s, generated tokens/s, latency p50/p99 (ms), errors, wrong answers.
// Usage: node serve_load.mjs URL MEMORY_ID KEY CLIENTS QUESTIONS MAX_TOKENS [stream]
const [url, mem, key, C, Q, M, mode] = process.argv.slice(2);
const clients = Number(C), questions = Number(Q), maxTokens = Number(M), stream = mode === 'stream';
const lat = [];
let tokens = 0, errors = 0, wrong = 0;
async function one() {
  const t = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'What is the pass key?' }],
                           memories: [mem], max_tokens: maxTokens, temperature: 0, stream,
                           stream_options: stream ? { include_usage: true } : undefined }) });
  const body = await r.text();
  lat.push(performance.now() - t);
  if (r.status !== 200) { errors++; return; }
  let text = '', usage = null;
  if (stream) {
    for (const l of body.split('\n'))
      if (l.startsWith('data: {')) {
        const j = JSON.parse(l.slice(6));
        if (j.usage) usage = j.usage;
        text += j.choices[0]?.delta?.content ?? '';
      }
  } else {
    const j = JSON.parse(body);
    text = j.choices[0].message.content;
    usage = j.usage;
  }
  tokens += usage.completion_tokens;
  if (!text.includes(key)) wrong++;
}
const start = performance.now();
await Promise.all(Array.from({ length: clients }, async () => { for (let i = 0; i < questions; i++) await one(); }));
const secs = (performance.now() - start) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(JSON.stringify({ clients, requests: lat.length, seconds: +secs.toFixed(3),
  requests_per_s: +(lat.length / secs).toFixed(2), generated_tokens_per_s: +(tokens / secs).toFixed(1),
  p50_ms: +pct(0.5).toFixed(1), p99_ms: +pct(0.99).toFixed(1), errors, wrong, stream }));
