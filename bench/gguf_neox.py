#!/usr/bin/env python3
"""Write a GGUF file of a GPT-NeoX model ("gptneox" architecture in llama.cpp)
of a given shape with random weights, for benchmarking llama.cpp against rcc.

Weights: every matrix is normal(0, 0.02); linear biases are 0; layer norms
have weight 1 and bias 0.  The embedding and the output projection are
separate tensors (GPT-NeoX does not tie them).  Matrices are written in
--dtype (f32 by default, or f16 / bf16 / q8_0); 1-D tensors (norms, biases) are
always f32, as llama.cpp's own converter writes them.

The fused QKV matrix is drawn in the Hugging Face GPT-NeoX layout
(rows grouped per head as [head][q|k|v][head_dim]) and then reordered to the
layout llama.cpp's gptneox graph reads: all Q rows, then all K rows, then all
V rows, each block head-major.

Tokenizer metadata: by default tokenizer.ggml.model = "none" plus
gptneox.vocab_size, which llama.cpp loads as a vocabulary of dummy tokens
(enough for llama-batched-bench, which feeds random token ids).  With
--tokenizer gpt2 a synthetic byte-level BPE vocabulary is written instead
(the 256 byte tokens, then filler tokens, and a single merge).

Needs numpy and the gguf python package; the latter is taken from
$LLAMA_CPP_DIR/gguf-py (or --gguf-py) when it is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _import_gguf(gguf_py: str | None):
    candidates = []
    if gguf_py:
        candidates.append(gguf_py)
    if os.environ.get("LLAMA_CPP_DIR"):
        candidates.append(os.path.join(os.environ["LLAMA_CPP_DIR"], "gguf-py"))
    for c in candidates:
        if os.path.isdir(c) and c not in sys.path:
            sys.path.insert(0, c)
    try:
        import gguf  # noqa: F401
    except ImportError as e:
        sys.exit(f"gguf_neox.py: cannot import the gguf package ({e}); "
                 "set LLAMA_CPP_DIR or pass --gguf-py")
    return sys.modules["gguf"]


def _byte_level_alphabet() -> list[str]:
    """The 256 printable characters GPT-2's byte-level BPE uses for bytes 0..255."""
    printable = (list(range(ord("!"), ord("~") + 1))
                 + list(range(ord("\xa1"), ord("\xac") + 1))
                 + list(range(ord("\xae"), ord("\xff") + 1)))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def hf_qkv_to_llama(w, n_head: int):
    """Reorder a fused QKV weight [n_head*3*hd, ...] (HF GPT-NeoX, per-head q|k|v)
    into llama.cpp's order [Q(all heads); K(all heads); V(all heads)]."""
    rest = w.shape[1:]
    hd = w.shape[0] // (3 * n_head)
    w = w.reshape((n_head, 3, hd) + rest)
    return w.transpose((1, 0, 2) + tuple(range(3, 3 + len(rest)))).reshape((3 * n_head * hd,) + rest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--intermediate", type=int, required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--rotary-pct", type=float, default=0.25)
    ap.add_argument("--rope-base", type=float, default=10000.0)
    ap.add_argument("--ctx", type=int, default=2048, help="context length (max_position_embeddings)")
    ap.add_argument("--norm-eps", type=float, default=1e-5)
    ap.add_argument("--no-parallel-residual", action="store_true",
                    help="sequential residual (use_parallel_residual = false)")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16", "q8_0"], default="f32")
    ap.add_argument("--tokenizer", choices=["none", "gpt2"], default="none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=None, help="general.name (default: derived from the shape)")
    ap.add_argument("--gguf-py", default=None, help="path of llama.cpp's gguf-py directory")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import numpy as np
    gguf = _import_gguf(args.gguf_py)

    H, L, NH, FF, V = args.hidden, args.layers, args.heads, args.intermediate, args.vocab
    if H % NH:
        sys.exit("gguf_neox.py: --hidden must be a multiple of --heads")
    head_dim = H // NH
    n_rot = int(args.rotary_pct * head_dim)
    if n_rot % 2:
        sys.exit(f"gguf_neox.py: rotary dims {n_rot} must be even")

    rng = np.random.default_rng(args.seed)
    std = 0.02

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    QT = gguf.GGMLQuantizationType
    if args.dtype == "f32":
        ftype = gguf.LlamaFileType.ALL_F32
    elif args.dtype == "f16":
        ftype = gguf.LlamaFileType.MOSTLY_F16
    elif args.dtype == "bf16":
        ftype = gguf.LlamaFileType.MOSTLY_BF16
    else:
        ftype = gguf.LlamaFileType.MOSTLY_Q8_0

    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GPTNEOX]  # "gptneox"
    w = gguf.GGUFWriter(args.out, arch)

    # ---- metadata (the keys llama.cpp's gptneox loader reads) ----
    w.add_name(args.name or f"gptneox-random-h{H}-l{L}-a{NH}-ff{FF}-v{V}")
    w.add_context_length(args.ctx)
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(FF)
    w.add_rope_dimension_count(n_rot)
    w.add_rope_freq_base(args.rope_base)
    w.add_head_count(NH)
    w.add_head_count_kv(NH)
    w.add_parallel_residual(not args.no_parallel_residual)
    w.add_layer_norm_eps(args.norm_eps)
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # ---- tokenizer ----
    if args.tokenizer == "none":
        w.add_tokenizer_model("none")
        w.add_vocab_size(V)
    else:
        if V < 258:
            sys.exit("gguf_neox.py: --tokenizer gpt2 needs --vocab >= 258")
        byte_tokens = _byte_level_alphabet()
        tokens = byte_tokens + ["ab"] + [f"<|tok_{i}|>" for i in range(257, V - 1)] + ["<|endoftext|>"]
        types = [gguf.TokenType.NORMAL] * (V - 1) + [gguf.TokenType.CONTROL]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(["a b"])  # gguf-py drops empty arrays and llama.cpp needs the key
        w.add_bos_token_id(V - 1)
        w.add_eos_token_id(V - 1)
        w.add_vocab_size(V)

    # ---- tensors ----
    def name(t, bid=None, suffix="weight"):
        base = gguf.TENSOR_NAMES[t]
        return (base.format(bid=bid) if bid is not None else base) + "." + suffix

    def add_matrix(n, a):
        # numpy shape (rows, cols) becomes ggml ne = {cols, rows}
        if args.dtype == "f32":
            w.add_tensor(n, a)
        elif args.dtype == "f16":
            w.add_tensor(n, a.astype(np.float16))
        elif args.dtype == "bf16":
            w.add_tensor(n, gguf.quants.quantize(a, QT.BF16), raw_dtype=QT.BF16)
        else:  # Q8_0: blocks of 32 int8 with one f16 scale, as llama-quantize writes them
            w.add_tensor(n, gguf.quants.quantize(a, QT.Q8_0), raw_dtype=QT.Q8_0)

    def add_vec(n, a):
        w.add_tensor(n, np.ascontiguousarray(a, dtype=np.float32))

    T = gguf.MODEL_TENSOR
    t0 = time.time()
    add_matrix(name(T.TOKEN_EMBD), normal(V, H))
    for i in range(L):
        add_vec(name(T.ATTN_NORM, i), np.ones(H, np.float32))
        add_vec(name(T.ATTN_NORM, i, "bias"), np.zeros(H, np.float32))
        add_matrix(name(T.ATTN_QKV, i), np.ascontiguousarray(hf_qkv_to_llama(normal(3 * H, H), NH)))
        add_vec(name(T.ATTN_QKV, i, "bias"), np.zeros(3 * H, np.float32))
        add_matrix(name(T.ATTN_OUT, i), normal(H, H))
        add_vec(name(T.ATTN_OUT, i, "bias"), np.zeros(H, np.float32))
        add_vec(name(T.FFN_NORM, i), np.ones(H, np.float32))
        add_vec(name(T.FFN_NORM, i, "bias"), np.zeros(H, np.float32))
        add_matrix(name(T.FFN_UP, i), normal(FF, H))
        add_vec(name(T.FFN_UP, i, "bias"), np.zeros(FF, np.float32))
        add_matrix(name(T.FFN_DOWN, i), normal(H, FF))
        add_vec(name(T.FFN_DOWN, i, "bias"), np.zeros(H, np.float32))
    add_vec(name(T.OUTPUT_NORM), np.ones(H, np.float32))
    add_vec(name(T.OUTPUT_NORM, None, "bias"), np.zeros(H, np.float32))
    add_matrix(name(T.OUTPUT), normal(V, H))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    n_params = V * H * 2 + L * (4 * H * H + 2 * H * FF + 9 * H + FF) + 2 * H
    print(f"gguf_neox.py: wrote {args.out} ({n_params / 1e6:.1f}M params, {args.dtype}, "
          f"head_dim {head_dim}, n_rot {n_rot}, tokenizer {args.tokenizer}) in {time.time() - t0:.1f}s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
