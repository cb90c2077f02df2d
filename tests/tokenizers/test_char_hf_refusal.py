"""A char tokenizer in HF ``tokenizers`` behaves like lmforge's: same ids on known characters, and an
unknown character is refused on both sides instead of vanishing from the HF encoding."""

import json

import pytest
import torch

from lmforge.cli.main import run
from lmforge.errors import LmforgeError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import load_tokenizer
from lmforge.tokenizers.char import CharTokenizer
from tokenizers import Tokenizer

TRAIN = "To be, or not to be: that is the question."
KNOWN = "that is not the question, to be or not"
UNKNOWN = ["Être", "to be — or", "naïve", "ROMEO"]  # each has characters the training text lacks


def check_like_lmforge(tokenizer: CharTokenizer, hf: Tokenizer) -> None:
    assert hf.encode(KNOWN).ids == tokenizer.encode(KNOWN)
    assert hf.decode(hf.encode(KNOWN).ids) == KNOWN
    for text in UNKNOWN:
        with pytest.raises(LmforgeError, match="is not in the char tokenizer's vocabulary"):
            tokenizer.encode(text)
        with pytest.raises(Exception, match="not found in the vocabulary"):
            hf.encode(text)


def test_saved_char_tokenizer_refuses_unknown_characters_in_hf(tmp_path):
    tokenizer = CharTokenizer.train(TRAIN)
    tokenizer.save(tmp_path)
    check_like_lmforge(tokenizer, Tokenizer.from_file(str(tmp_path / "tokenizer.json")))
    reloaded = load_tokenizer(tmp_path)
    assert isinstance(reloaded, CharTokenizer) and reloaded.encode(KNOWN) == tokenizer.encode(KNOWN)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_export_rewrites_a_char_tokenizer_saved_without_the_refusal(tmp_path, family):
    """Runs saved before the refusal existed have no unk_token: HF drops unknown characters, and lmforge
    still loads the file; ``lmforge export`` writes the refusing form, whatever the model family."""
    tokenizer = CharTokenizer.train(TRAIN)
    model_dir, out = tmp_path / "run", tmp_path / "hf"
    torch.manual_seed(0)
    shape = {"vocab_size": tokenizer.vocab_size, "context_length": 8, "d_model": 8, "n_layers": 1, "n_heads": 2}
    model = GPT(GPTConfig(**shape)) if family == "gpt" else Llama(LlamaConfig(**shape, n_kv_heads=2, d_mlp=16))
    save_model(model, model_dir)
    old = tokenizer.to_hf_json()
    old["model"]["unk_token"] = None
    (model_dir / "tokenizer.json").write_text(json.dumps(old))
    assert Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode("Être").ids == tokenizer.encode("tre")
    assert isinstance(load_tokenizer(model_dir), CharTokenizer)
    assert run(["export", str(model_dir), "--out", str(out)]) == 0
    check_like_lmforge(tokenizer, Tokenizer.from_file(str(out / "tokenizer.json")))
