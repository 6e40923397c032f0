"""The CT2 <-> openai-whisper port on a tiny random Whisper built here (no shipped weights needed)."""
import json
import shutil

import numpy as np
import pytest
import torch

whisper_model = pytest.importorskip("whisper.model")

from pipelines.asr.ct2_whisper import (ct2_from_whisper, load_whisper_from_ct2, read_ct2,  # noqa: E402
                                       state_dict_from_ct2, write_ct2)
from pipelines.errors import ModelFilesError  # noqa: E402

DIMS = dict(n_mels=80, n_audio_ctx=20, n_audio_state=32, n_audio_head=4, n_audio_layer=2,
            n_vocab=51865, n_text_ctx=24, n_text_state=32, n_text_head=4, n_text_layer=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = whisper_model.Whisper(whisper_model.ModelDimensions(**DIMS)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    folder = tmp_path_factory.mktemp("tiny-ct2")
    write_ct2(ct2_from_whisper(model), folder / "model.bin")
    (folder / "vocabulary.txt").write_text("\n".join(f"tok{i}" for i in range(DIMS["n_vocab"])) + "\n")
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[1, 0], [1, 3]], "lang_ids": [],
                                                    "suppress_ids": [], "suppress_ids_begin": []}))
    return model, folder


def test_binary_roundtrip_keeps_every_tensor(tiny):
    model, folder = tiny
    tensors = read_ct2(folder / "model.bin")
    assert tensors["decoder/projection/weight"] is tensors["decoder/embeddings/weight"]  # alias resolved
    sd = state_dict_from_ct2(tensors)
    ref = model.state_dict()
    assert set(sd) == set(ref)
    for k, v in ref.items():
        np.testing.assert_array_equal(sd[k], v.numpy(), err_msg=k)


def test_rebuilt_model_gives_identical_logits_and_alignment_heads(tiny):
    model, folder = tiny
    rebuilt = load_whisper_from_ct2(folder)
    mel = torch.randn(1, 80, 2 * DIMS["n_audio_ctx"])
    tokens = torch.tensor([[50258, 50259, 50359, 440, 1500]])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(mel, tokens), model(mel, tokens), rtol=0, atol=0)
    heads = rebuilt.alignment_heads.to_dense()
    assert heads.sum() == 2 and heads[1, 0] and heads[1, 3]


def test_ctranslate2_itself_runs_our_file_and_agrees(tiny):
    """An independent reader: CTranslate2's own runtime loads what we wrote and encodes like torch."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    model, folder = tiny
    ct2 = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    mel = np.random.default_rng(0).standard_normal((1, 80, 2 * DIMS["n_audio_ctx"])).astype(np.float32)
    encoded = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    with torch.no_grad():
        expected = model.encoder(torch.from_numpy(mel)).numpy()
    np.testing.assert_allclose(encoded, expected, atol=2e-4)


def test_corrupt_or_foreign_files_are_clear_errors(tiny, tmp_path):
    _, folder = tiny
    data = (folder / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFilesError, match="truncated or corrupt"):
        read_ct2(tmp_path / "model.bin")
    (tmp_path / "model.bin").write_bytes(b"\x05\x00\x00\x00" + data[4:])
    with pytest.raises(ModelFilesError, match="binary version 5"):
        read_ct2(tmp_path / "model.bin")
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    tensors = read_ct2(folder / "model.bin")
    del tensors["encoder/conv2/weight"]
    write_ct2(tensors, tmp_path / "model.bin")
    with pytest.raises(ModelFilesError, match="lacks tensor"):
        load_whisper_from_ct2(tmp_path)
