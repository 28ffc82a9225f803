#!/usr/bin/env bash
# The GPU measurements that prove ArcherChat against nanochat (parity, CORE, the whole flow with Endlex), packed into a
# few commands of at most 10 minutes each for a GPU machine that has no network (e.g. a lent H200).
#
# Here, with network to the package index (once):
#   bash runs/bench/gpu_session.sh stage ~/nanochat ~/Endlex    # -> build/{nanochat,endlex,text,core}, .whl/ (git-ignored)
# There, from the repository root, with build/ and .whl/ carried along; each writes what it measured under $OUT:
#   bash runs/bench/gpu_session.sh d8         # vs_nanochat d8, 160 x 131,072 tokens, SSSL, ArcherChat seeds 42 and 43   ~6 min
#   bash runs/bench/gpu_session.sh d12        # the same at d12                                                         ~7 min
#   bash runs/bench/gpu_session.sh core       # a nanochat d12 (60 steps), then CORE on its weights, both evaluators     ~9 min
#   bash runs/bench/gpu_session.sh d12plan    # d12 with each program's own batch (-1), 200 steps, one ArcherChat seed    ~9 min
#   bash runs/bench/gpu_session.sh packing    # d12, 160 steps: nanochat, bestfit, longfirst; nanochat's rows and whole docs ~7 min
#   bash runs/bench/gpu_session.sh flow       # runs/d8.py offline, short, logging to Endlex on loopback; pull; one chat ~6 min
#   bash runs/bench/gpu_session.sh nbcuda     # the GPU cells of 01, 01b and 02, and one optimizer step at d20 (bench_optim) ~5 min
# Flags after the name go to runs/vs_nanochat.py (last one wins), e.g. a CPU rehearsal of the flow of a command:
#   SKIP_WHEELS=1 PYTHON=.venv/bin/python bash runs/bench/gpu_session.sh packing --device-type cpu --depth 2 ...
# Device time is short (30 minutes a session, machine start included): in order of what they prove, d8, d12, core,
# flow, d12plan, packing.
# If a gap remains, bisect with the environment, which reaches both programs: ARCHERCHAT_ATTN=sdpa (windows through
# SDPA with a mask, as nanochat without FA3, instead of Flex), NANOCHAT_DTYPE=float32 ARCHERCHAT_DTYPE=float32, and
# flags: --window-pattern L, --archerchat-args=--no-compile (nanochat always compiles; on CPU, bf16 compiled and eager
# runs drift apart by more than the seed spread, README).
# Data: ../shared/data/{text,core} (16 climbmix shards, the last one validation; the 18 local CORE task files).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/out/gpu}
mkdir -p "$OUT"
B=$PWD/build
PY=${PYTHON:-python3}

setup() {   # the wheels this machine lacks, into /tmp/site; the package itself from the checkout
    if [ -z "${SKIP_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    fi
    export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 ARCHERCHAT_BASE_DIR=$B/base
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
}

vs() {   # vs_nanochat with the issue's settings; $1: run name, the rest: extra flags
    local name=$1; shift
    timeout ${VS_TIMEOUT:-560} $PY runs/vs_nanochat.py --nanochat "$B/nanochat" --data-dir "$B/text" --out "$B/runs/$name" \
        --num-iterations 160 --total-batch-size 131072 --device-batch-size 32 --eval-every 20 --eval-tokens 262144 "$@" \
        2>&1 | tee "$OUT/$name.log" || echo "vs_nanochat $name ended with status $?" | tee -a "$OUT/$name.log"
    for f in vs_nanochat.md vs_nanochat.json vs_nanochat.png; do
        [ -f "$B/runs/$name/$f" ] && cp "$B/runs/$name/$f" "$OUT/$name.${f#vs_nanochat.}"
    done
    return 0
}

case "${1:-}" in
stage)
    nc=${2:?"stage needs the nanochat checkout"}; ex=${3:-}
    mkdir -p build .whl
    copy() { rm -rf "$2"; mkdir -p "$2"; (cd "$1" && tar --exclude=.git -cf - .) | (cd "$2" && tar -xf -); }
    copy "$nc" build/nanochat; copy ../shared/data/text build/text; copy ../shared/data/core build/core
    w="$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl"
    $w rustbpe "fastcore>=1.12.3,<2"   # datasets is only imported for Hub downloads
    if [ -n "$ex" ]; then   # Endlex's server and what the GPU image lacks of its dependencies
        copy "$ex" build/endlex
        $w fastapi starlette pydantic pydantic-core annotated-types typing-inspection annotated-doc uvicorn python-multipart httptools websockets watchfiles python-dotenv
    fi
    du -sh build .whl
    echo "carry: build .whl (the tree that travels must stay under 64 MiB)";;
d8)
    shift; setup; vs d8 --depth 8 --seeds 42 43 "$@";;
d12)
    shift; setup; vs d12 --depth 12 --seeds 42 43 "$@";;
core)   # a nanochat d12 (60 steps), then CORE on its weights through both evaluators: every item for ArcherChat's
        # batched one, 50 per task for nanochat's (its speed), the same decisions checked on those
    shift; setup; VS_TIMEOUT=250 vs core12 --depth 12 --num-iterations 60 --eval-every 30 --seeds 42 "$@"
    timeout 330 $PY runs/bench/bench_core.py --data-dir "$B/core" --nanochat "$B/nanochat" --nanochat-base-dir \
        "$B/runs/core12/nanochat_base" --convert --nanochat-max-per-task 50 --max-per-task -1 --tokens-per-batch 32768 \
        --out "$OUT/core_d12.json" 2>&1 | tee "$OUT/core_d12.log" || true;;
d12plan)
    shift; setup; vs d12plan --depth 12 --num-iterations 200 --total-batch-size -1 --seeds 42 "$@";;
packing)   # nanochat + ArcherChat (bestfit, seed 42), then ArcherChat longfirst from the same seed, then both ways of validation
    shift; setup; VS_TIMEOUT=330 vs d12pack --depth 12 --seeds 42 "$@"
    r=$B/runs/d12pack
    cmd=$($PY -c "import json, sys; c = json.load(open(sys.argv[1]))['commands']['ArcherChat pretraining, seed 42']
print(c.replace('--packing bestfit', '--packing longfirst').replace('--tag seed42', '--tag longfirst'))" "$r/vs_nanochat.json")
    echo "\$ $cmd" | tee "$OUT/longfirst.log"
    (eval "timeout 200 env $cmd") >>"$OUT/longfirst.log" 2>&1 || echo "longfirst training ended with status $?" | tee -a "$OUT/longfirst.log"
    timeout 60 $PY runs/bench/packing_eval.py --data-dir "$B/text" --eval-tokens ${PACK_EVAL_TOKENS:-2097152} --out "$OUT/packing.md" \
        nanochat=nanochat:$r/nanochat_base bestfit=$r/archerchat_base:seed42 longfirst=$r/archerchat_base:longfirst \
        2>&1 | tee -a "$OUT/longfirst.log" || true;;
flow)   # flags after the name go to runs/d8.py here
    shift; setup
    export PYTHONPATH=$PYTHONPATH:$B/endlex ENDLEX_URL=http://127.0.0.1:8765 ENDLEX_TOKEN=gpu-session-token
    ENDLEX_DATA=$B/endlex_data setsid ${ENDLEX_PYTHON:-$PY} -m uvicorn endlex.server.app:create_app --factory --host 127.0.0.1 --port 8765 \
        >"$OUT/endlex.log" 2>&1 < /dev/null &
    sleep 5
    timeout 420 $PY runs/d8.py --num-iterations 60 --data-dir "$B/text" --core-data-dir "$B/core" --core-max-per-task 100 \
        --sft-source embedded --stages tokenizer pretrain base_eval sft chat_eval report "$@" 2>&1 | tee "$OUT/flow.log" || true
    $PY -m archerchat.telemetry list 2>&1 | tee -a "$OUT/flow.log"
    run=$($PY -c "import json; print(json.load(open('$B/base/base_checkpoints/d8/run.json'))['name'])") \
        || { echo "no run.json: pretraining never started; see flow.log" | tee -a "$OUT/flow.log"; exit 1; }
    ARCHERCHAT_BASE_DIR=$B/home $PY -m archerchat.telemetry pull "$run" --tag d8 2>&1 | tee -a "$OUT/flow.log"
    ARCHERCHAT_BASE_DIR=$B/home timeout 120 $PY -m archerchat.chat_cli -i sft -g d8 -p "Why is the sky blue?" 2>&1 \
        | tee -a "$OUT/flow.log" || true;;
nbcuda)   # the `#| cuda` cells of 01, 01b and 02 run as plain Python (runs/bench/nb_cells.py: no Jupyter needed), then
          # the optimizer step at d20 with row equilibration and the norm reset (02's "Measured on an H100")
    shift; setup
    MPLBACKEND=Agg timeout 330 $PY runs/bench/nb_cells.py nbs/01_attention_swa.ipynb nbs/01b_attention_kernels.ipynb \
        nbs/02_muon.ipynb 2>&1 | tee "$OUT/nbcuda.log" || true
    timeout 200 $PY runs/bench/bench_optim.py --out "$OUT/bench_optim.json" 2>&1 | tee "$OUT/bench_optim.log" || true;;
*)
    sed -n 2,23p "$0"; exit 2;;
esac
