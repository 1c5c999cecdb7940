#!/usr/bin/env python3
# Load driver for bench/serve_load.sh where Node.js is missing: the same requests as serve_load.mjs
# (C concurrent clients each send Q chat completions, the pass-key question on one stored memory,
# greedy, max_tokens M) and the same JSON line: requests/s, generated tokens/s, latency p50/p99
# (ms), errors, wrong answers. Standard library only (a thread per client; urllib opens a new
# connection per request, where Node's fetch keeps one alive).
# Usage: python3 serve_load.py URL MEMORY_ID KEY CLIENTS QUESTIONS MAX_TOKENS [stream]
import json
import sys
import threading
import time
import urllib.error
import urllib.request

url, mem, key, C, Q, M = sys.argv[1:7]
stream = len(sys.argv) > 7 and sys.argv[7] == 'stream'
clients, questions, max_tokens = int(C), int(Q), int(M)
lat = []
counts = {'tokens': 0, 'errors': 0, 'wrong': 0}
lock = threading.Lock()


def one():
    body = {'messages': [{'role': 'user', 'content': 'What is the pass key?'}],
            'memories': [mem], 'max_tokens': max_tokens, 'temperature': 0, 'stream': stream}
    if stream:
        body['stream_options'] = {'include_usage': True}
    req = urllib.request.Request(f'{url}/v1/chat/completions', data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'}, method='POST')
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            status, text_body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text_body = e.code, ''
    except OSError:
        status, text_body = 0, ''
    ms = (time.perf_counter() - t) * 1000
    with lock:
        lat.append(ms)
        if status != 200:
            counts['errors'] += 1
            return
    text, usage = '', None
    if stream:
        for line in text_body.split('\n'):
            if line.startswith('data: {'):
                j = json.loads(line[6:])
                if j.get('usage'):
                    usage = j['usage']
                if j.get('choices'):
                    text += j['choices'][0].get('delta', {}).get('content') or ''
    else:
        j = json.loads(text_body)
        text, usage = j['choices'][0]['message']['content'], j['usage']
    with lock:
        counts['tokens'] += usage['completion_tokens']
        if key not in text:
            counts['wrong'] += 1


def client():
    for _ in range(questions):
        one()


start = time.perf_counter()
threads = [threading.Thread(target=client) for _ in range(clients)]
for th in threads:
    th.start()
for th in threads:
    th.join()
secs = time.perf_counter() - start
lat.sort()


def pct(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))]


print(json.dumps({'clients': clients, 'requests': len(lat), 'seconds': round(secs, 3),
                  'requests_per_s': round(len(lat) / secs, 2),
                  'generated_tokens_per_s': round(counts['tokens'] / secs, 1),
                  'p50_ms': round(pct(0.5), 1), 'p99_ms': round(pct(0.99), 1),
                  'errors': counts['errors'], 'wrong': counts['wrong'], 'stream': stream},
                 separators=(',', ':')))
