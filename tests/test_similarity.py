"""Speaker similarity (resemblyzer): what every clone is scored and kept by."""
import contextlib

import numpy as np
import torch

from pipelines.audio import load_audio
from voices import similarity
from voices.similarity import centroid, embed


def test_the_same_reader_scores_above_other_speakers_and_one_thread_changes_nothing(shared, monkeypatch):
    """Held-out clips of the LJ reader sit nearer her centroid than other people's clips do. An utterance is
    embedded on one torch thread (3 x faster for a small LSTM batch), the same numbers as with the caller's
    threads, and the caller's thread count is put back."""
    wavs = sorted((shared / "voice/ljspeech/wavs").glob("*.wav"))
    reader = [load_audio(p, 16000) for p in wavs[:6]]
    others = [load_audio(p, 16000) for p in sorted((shared / "voice/contrast").glob("*.wav"))[:4]]
    target = centroid(reader[:4])
    same = [float(np.dot(embed(a), target)) for a in reader[4:]]
    different = [float(np.dot(embed(a), target)) for a in others]
    assert min(same) > 0.8 and min(same) > max(different) + 0.1, (same, different)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one_thread = embed(reader[4])
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(similarity, "_one_torch_thread", contextlib.nullcontext)
        assert np.allclose(one_thread, embed(reader[4]), atol=1e-6)
    finally:
        torch.set_num_threads(threads)
