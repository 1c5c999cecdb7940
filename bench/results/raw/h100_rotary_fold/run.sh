#!/usr/bin/env bash
# The inverse rotary folded into the attention backward: the modes of
# ../h100_bwd_pipeline/run.sh (`check`, `attn`, `throughput`, `accum`) against the build before
# the change (.carry/head-pipelined.tar.xz: rcc and rcc_cuda_attn_bwd_check of 06982fe).
HEAD_TAR=.carry/head-pipelined.tar.xz exec bash "$(dirname "$0")/../h100_bwd_pipeline/run.sh" "$@"
