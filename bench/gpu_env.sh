# Sourced by the GPU benchmark scripts (bench/gpu_rcc.sh, bench/gpu_train.sh) from the repository
# root: sets RCC to the rcc binary when the caller did not, gpu-bundle/rcc (scripts/gpu-bundle.sh,
# with its libraries on LD_LIBRARY_PATH) when present, else build-gpu/rcc.
RCC=${RCC:-}
if [ -z "$RCC" ]; then
  if [ -x gpu-bundle/rcc ]; then
    RCC=gpu-bundle/rcc
    export LD_LIBRARY_PATH="$PWD/gpu-bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  else
    RCC=build-gpu/rcc
  fi
fi
