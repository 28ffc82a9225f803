#!/usr/bin/env bash
# The GPU measurements that prove ArcherChat against nanochat (parity, CORE, speed, the whole flow with Endlex), packed
# into commands of at most 10 minutes each for a GPU machine that has no network (e.g. a lent H100 or H200).
#
# Here, with network to the package index (once):
#   bash runs/bench/gpu_session.sh stage ~/nanochat ~/Endlex ~/data   # -> build/{nanochat,endlex,text,core,tasks}, .whl/ (git-ignored)
#   bash runs/bench/gpu_session.sh rehearse                     # install only from .whl into an empty target, import, serve
# There, from the repository root, with build/ and .whl/ carried along; each writes what it measured under $OUT:
#   bash runs/bench/gpu_session.sh d24 nanochat    # d24 at the speedrun's settings (fp8, batch 16, ratio 8), nanochat   ~6 min
#   bash runs/bench/gpu_session.sh d24 archerchat  # the same for ArcherChat, then the projection table of both        ~6 min
#   D24_STEPS=5 D24_PROGRAM_TIMEOUT=280 bash runs/bench/gpu_session.sh d24 both   # both in one command, fewer steps  ~9.5 min
#   bash runs/bench/gpu_session.sh profile24       # then: one d24 step profiled (the three largest costs)           ~3 min
#   bash runs/bench/gpu_session.sh d8         # vs_nanochat d8, 160 x 131,072 tokens, SSSL, ArcherChat seeds 42 and 43   ~6 min
#   bash runs/bench/gpu_session.sh d12        # the same at d12                                                         ~7 min
#   bash runs/bench/gpu_session.sh core       # a nanochat d12 (60 steps), then CORE on its weights, both evaluators     ~9 min
#   bash runs/bench/gpu_session.sh d12plan    # d12 with each program's own batch (-1), 200 steps, one ArcherChat seed    ~9 min
#   bash runs/bench/gpu_session.sh packing    # d12, 160 steps: nanochat, bestfit, longfirst; nanochat's rows and whole docs ~7 min
#   bash runs/bench/gpu_session.sh flow       # runs/speedrun.py --short through torchrun, Endlex on loopback; pull; chat ~8 min
#   bash runs/bench/gpu_session.sh preempt    # d8 40 steps; the same killed (SIGKILL) after its step-20 checkpoint is on
#                                             # Endlex, resumed on an empty base dir with one command; losses 21..40  ~3 min
#   bash runs/bench/gpu_session.sh autobatch  # d12, d20, d24 with --device-batch-size auto: size, estimate, peak; 3 steps ~7 min
#   bash runs/bench/gpu_session.sh rl         # a short d12 chat model, then nanochat's chat_rl and archerchat.rl on it:
#                                             # rewards, s/step, pass@k before/after (one evaluator); chat_cli -i rl  ~10 min
#   bash runs/bench/gpu_session.sh loader     # the dataloader: packed tok/s per rank with 1-8 tokenizer threads, to the GPU ~2 min
#   bash runs/bench/gpu_session.sh nbcuda     # the GPU cells of 01, 01b and 02, and one optimizer step at d20 (bench_optim) ~5 min
# Flags after the name go to runs/vs_nanochat.py (last one wins), e.g. a CPU rehearsal of the flow of a command:
#   SKIP_WHEELS=1 PYTHON=.venv/bin/python bash runs/bench/gpu_session.sh packing --device-type cpu --depth 2 ...
# The two d24 commands run on the same machine one after the other (both programs' runs do not fit one command's 10
# minutes at the speedrun's batch of 2^20 tokens); the second reads the first's numbers from build/runs/d24.
# Device time is short (30 minutes a session, machine start included): about three of these fit in one session.
# If a gap remains, bisect with the environment, which reaches both programs: ARCHERCHAT_ATTN=sdpa (windows through
# SDPA with a mask, as nanochat without FA3, instead of Flex), NANOCHAT_DTYPE=float32 ARCHERCHAT_DTYPE=float32, and
# flags: --window-pattern L, --archerchat-args=--no-compile (nanochat always compiles; on CPU, bf16 compiled and eager
# runs drift apart by more than the seed spread, README).
# Data: build/text (parquet shards of real text, the last one validation) and build/core (CORE task files, the eval
# bundle's eval_data layout), copied by `stage` from the data directory it is given (its text/ and core/), and
# build/tasks (its tasks/: GSM8K for the rl command).
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

endlex_up() {   # the real Endlex server (build/endlex) on loopback, in its own session so that it outlives this command
    export PYTHONPATH=$PYTHONPATH:$B/endlex ENDLEX_URL=http://127.0.0.1:8765 ENDLEX_TOKEN=gpu-session-token
    health() { $PY -c "import sys, urllib.request as u; print(u.urlopen(sys.argv[1] + '/health', timeout=2).read().decode())" "$ENDLEX_URL" 2>/dev/null; }
    if ! health >/dev/null; then
        ENDLEX_DATA=$B/endlex_data setsid ${ENDLEX_PYTHON:-$PY} -m uvicorn endlex.server.app:create_app --factory --host 127.0.0.1 \
            --port 8765 >>"$OUT/endlex.log" 2>&1 < /dev/null &
        for i in $(seq 60); do health >/dev/null && break; sleep 0.5; done
    fi
    health | tee -a "$OUT/endlex.log" || { echo "Endlex did not start: see endlex.log"; tail -20 "$OUT/endlex.log"; }
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
    nc=${2:?"stage needs the nanochat checkout"}; ex=${3:?"stage needs the Endlex checkout"}; data=${4:?"stage needs the data directory (text/ and core/)"}
    mkdir -p build .whl
    copy() { rm -rf "$2"; mkdir -p "$2"; (cd "$1" && tar --exclude=.git -cf - .) | (cd "$2" && tar -xf -); }
    copy "$nc" build/nanochat; copy "$data/text" build/text; copy "$data/core" build/core
    copy "$data/tasks" build/tasks
    copy "$ex" build/endlex
    $PY runs/bench/stage_wheels.py stage --out .whl    # every package the image lacks, dependencies resolved
    du -sh build .whl
    echo "carry: build .whl (the tree that travels must stay under 64 MiB)";;
rehearse)   # here, no GPU: the staged wheels alone (--no-index) into an empty target over a Python 3.12, every import, Endlex
    $PY runs/bench/stage_wheels.py rehearse --wheels .whl $( [ -d build/endlex ] && echo --endlex build/endlex ) \
        --python "${PYTHON312:-python3.12}";;
d24)   # $2: nanochat | archerchat | both; the speedrun's settings, a few steps at the plan's batch; the projection table
    who=${2:?"d24 needs nanochat, archerchat or both"}; shift 2; setup
    progs=$([ "$who" = both ] && echo "nanochat archerchat" || echo "$who")
    timeout ${D24_TIMEOUT:-570} $PY runs/bench/speedrun_projection.py --nanochat "$B/nanochat" --data-dir "$B/text" --out "$B/runs/d24" \
        --programs $progs --steps ${D24_STEPS:-8} --timeout ${D24_PROGRAM_TIMEOUT:-500} "$@" 2>&1 | tee "$OUT/d24_$who.log" || true
    for f in speedrun_projection.md speedrun_projection.json; do [ -f "$B/runs/d24/$f" ] && cp "$B/runs/d24/$f" "$OUT/"; done
    for p in $progs; do cp "$B/runs/d24/logs/$p.log" "$OUT/d24_${p}_train.log" 2>/dev/null || true; done;;
profile24)   # after `d24 archerchat`: where a d24 step's GPU time goes (kernels by kind, the costliest), one profiled step
    shift; setup
    ARCHERCHAT_BASE_DIR=$B/runs/d24/archerchat_base timeout ${PROFILE_TIMEOUT:-240} $PY runs/bench/bench_train.py --depth 24 \
        --window SSSL --fp8 --device-batch-size 16 --total-batch-size 65536 --steps 2 --warmup 1 --data-dir "$B/text" \
        --profile "$OUT/prof" --out "$OUT/profile24.json" "$@" 2>&1 | tee "$OUT/profile24.log" || true;;
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
loader)   # the dataloader on this host's CPUs into the GPU (notebook 04, Appendix A): B=32, T=2048, vocab 32,768
    shift; setup
    timeout 300 $PY runs/bench/bench_dataloader.py --data-dir "$B/text" --threads 1,2,4,8 --device cuda \
        --out "$OUT/bench_dataloader.json" "$@" 2>&1 | tee "$OUT/bench_dataloader.log" || true;;
flow)   # the speedrun as a user runs it, in its short form: Endlex on loopback, runs/speedrun.py --short through torchrun at
        # world size 1 (every stage), then the home box: a fresh base directory pulls the run, chats with the SFT model,
        # and finds the report and the curves. Flags after the name go to runs/speedrun.py.
    shift; setup
    endlex_up
    timeout ${FLOW_TIMEOUT:-420} $PY runs/speedrun.py --short --data-dir "$B/text" --core-data-dir "$B/core" --sft-source embedded \
        --stages tokenizer pretrain base_eval sft chat_eval report "$@" 2>&1 | tee "$OUT/flow.log" || true
    $PY -m archerchat.telemetry list 2>&1 | tee -a "$OUT/flow.log"
    run=$($PY -c "import json; print(json.load(open('$B/base/base_checkpoints/d24/run.json'))['name'])") \
        || { echo "no run.json: pretraining never started; see flow.log" | tee -a "$OUT/flow.log"; exit 1; }
    rm -rf "$B/home"
    ARCHERCHAT_BASE_DIR=$B/home $PY -m archerchat.telemetry pull "$run" --tag d24 2>&1 | tee -a "$OUT/flow.log"
    for f in report.md curves.png; do
        [ -f "$B/home/base_checkpoints/d24/$f" ] && { echo "home has $f" | tee -a "$OUT/flow.log"; cp "$B/home/base_checkpoints/d24/$f" "$OUT/flow_$f"; } \
            || echo "home LACKS $f" | tee -a "$OUT/flow.log"
    done
    ARCHERCHAT_BASE_DIR=$B/home timeout 180 $PY -m archerchat.chat_cli -i sft -g d24 -p "Why is the sky blue?" 2>&1 \
        | tee -a "$OUT/flow.log" || true;;
autobatch)   # d12, d20 and d24 each choose their device batch (--device-batch-size auto: the estimate's largest size,
             # confirmed by one real forward+backward, halved on OOM) and train 3 steps of 2^18 tokens with it, eagerly (a
             # compile per depth and per size tried would not fit 10 minutes; add --compile to measure that). Flags after
             # the name go to every archerchat.train run. CPU rehearsal (no GPU: 'auto' takes the default):
             #   mkdir -p build && ln -sfn $PWD/archerchat/assets/corpus build/text && SKIP_WHEELS=1 AB_DEPTHS=2 \
             #   AB_TOK_ARGS="--max-chars 300000 --vocab-size 512" bash runs/bench/gpu_session.sh autobatch --device-type cpu \
             #   --max-seq-len 64 --total-batch-size 1024 --aspect-ratio 32 --head-dim 32
    shift; setup
    export ARCHERCHAT_BASE_DIR=$B/autobatch
    log=$OUT/autobatch.log; : > "$log"
    if [ ! -f "$B/autobatch/tokenizer/tokenizer.bpe" ]; then
        timeout 150 $PY -m archerchat.tokenizer train --data-dir "$B/text" ${AB_TOK_ARGS:---max-chars 5000000} 2>&1 | tail -2 | tee -a "$log"
    fi
    for d in ${AB_DEPTHS:-12 20 24}; do
        echo "== d$d" | tee -a "$log"
        timeout ${AB_TIMEOUT:-160} $PY -m archerchat.train --depth "$d" --device-batch-size auto --num-iterations 3 \
            --total-batch-size 262144 --no-compile --eval-every -1 --core-metric-every -1 --sample-every -1 \
            --data-dir "$B/text" --tag "autobatch-d$d" "$@" 2>&1 \
            | grep -E "device-batch-size auto|micro-batch|^step 0000[1-3]|peak memory|rror|out of memory" | tee -a "$log" \
            || echo "d$d ended with status $?" | tee -a "$log"
        rm -rf "$ARCHERCHAT_BASE_DIR/base_checkpoints/autobatch-d$d"   # checkpoints of several GB each, not needed
    done;;
preempt)   # a lost cloud box costs minutes, not the run (runs/bench/preempt.py): flags after the name go to archerchat.train
    shift; setup
    export PYTHONPATH=$PYTHONPATH:$B/endlex ENDLEX_URL=http://127.0.0.1:8766 ENDLEX_TOKEN=gpu-session-token
    ENDLEX_DATA=$B/endlex_preempt setsid ${ENDLEX_PYTHON:-$PY} -m uvicorn endlex.server.app:create_app --factory --host 127.0.0.1 \
        --port 8766 >"$OUT/endlex_preempt.log" 2>&1 < /dev/null &
    srv=$!; sleep 5
    # an 8,192-token vocabulary keeps each checkpoint (weights, optimizer) a few hundred MB: written, hashed, uploaded and
    # fetched within the budget; eager (no compile) and one micro-batch a step keep the three boxes' start-up short
    timeout 280 $PY runs/bench/preempt.py --work "$B/preempt" --out "$OUT" --checkpoint-step 20 --vocab-size 8192 \
        --tok-max-chars 20000000 -- --depth 8 --num-iterations 40 --save-every 10 --device-batch-size 16 --total-batch-size 32768 \
        --eval-every -1 --core-metric-every -1 --sample-every -1 --no-compile --data-dir "$B/text" "$@" 2>&1 | tee "$OUT/preempt.log" || true
    kill "$srv" 2>/dev/null || true;;
rl)   # flags after the name go to runs/bench/rl_vs_nanochat.py. The chat model: RL_MODEL_TAG's SFT checkpoint in $B/base if
      # there is one, else a short d12 made here (~4 min: tokenizer, 60 pretraining steps, 30 SFT steps on the embedded
      # mixture), which rarely solves a GSM8K problem: then both programs mostly sample (nanochat also steps on zero
      # gradients, ArcherChat skips those updates) and the comparison is of seconds per step; a stronger SFT model makes
      # the rewards move.
    shift; setup
    tag=${RL_MODEL_TAG:-rl12}
    if [ ! -d "$B/base/sft_checkpoints/$tag" ]; then
        { [ -f "$B/base/tokenizer/tokenizer.bpe" ] || timeout 90 $PY -m archerchat.tokenizer train --vocab-size 32768 \
              --max-chars 30000000 --data-dir "$B/text"
          timeout 150 $PY -m archerchat.train --depth 12 --window-pattern L --device-batch-size 32 --num-iterations ${RL_BASE_STEPS:-60} \
              --eval-every -1 --core-metric-every -1 --sample-every -1 --tag "$tag" --run "$tag" --data-dir "$B/text"
          timeout 90 $PY -m archerchat.sft train --model-tag "$tag" --run "$tag" --source embedded --num-iterations ${RL_SFT_STEPS:-30} \
              --eval-every -1 --eval-tokens 524288
        } 2>&1 | tee "$OUT/rl_model.log" || echo "making the d12 chat model ended with status $?" | tee -a "$OUT/rl_model.log"
    fi
    timeout ${RL_TIMEOUT:-270} $PY runs/bench/rl_vs_nanochat.py --nanochat "$B/nanochat" --model-tag "$tag" --gsm8k "$B/tasks/gsm8k" \
        --num-steps 30 --examples-per-step 4 --num-samples 8 --device-batch-size 8 --max-new-tokens 128 --eval-examples 64 \
        --timeout 100 --out "$B/runs/rl" "$@" 2>&1 | tee "$OUT/rl.log" || echo "rl_vs_nanochat ended with status $?" | tee -a "$OUT/rl.log"
    r=$B/runs/rl
    for f in rl_vs_nanochat.md rl_vs_nanochat.json rl_vs_nanochat.png; do [ -f "$r/$f" ] && cp "$r/$f" "$OUT/$f"; done
    for f in archerchat_rl.json logs/archerchat.log logs/nanochat.log; do [ -f "$r/$f" ] && cp "$r/$f" "$OUT/rl_$(basename "$f")"; done
    timeout 40 $PY -m archerchat.chat_cli -i rl -g rlbench -p "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?" \
        -m 128 2>&1 | tee "$OUT/rl_chat.txt" || true;;
nbcuda)   # the `#| cuda` cells of 01, 01b and 02 run as plain Python (runs/bench/nb_cells.py: no Jupyter needed), then
          # the optimizer step at d20 with row equilibration and the norm reset (02's "Measured on an H100")
    shift; setup
    MPLBACKEND=Agg timeout 330 $PY runs/bench/nb_cells.py nbs/01_attention_swa.ipynb nbs/01b_attention_kernels.ipynb \
        nbs/02_muon.ipynb 2>&1 | tee "$OUT/nbcuda.log" || true
    timeout 200 $PY runs/bench/bench_optim.py --out "$OUT/bench_optim.json" 2>&1 | tee "$OUT/bench_optim.log" || true;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2;;
esac
