"""The seq2seq model: attention, padding, decoders (greedy, beam), training, cased output and BLEU, save/load."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import typer
from rich.console import Console
from typer.testing import CliRunner

from lmforge.cli.translate import translate as translate_command
from lmforge.data.seq2seq_batches import collate
from lmforge.data.translation import DataConfig
from lmforge.errors import ConfigError
from lmforge.infer import seq2seq as decoding
from lmforge.infer.seq2seq import Hypothesis
from lmforge.models.registry import load_model
from lmforge.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lmforge.recipes.translate_train import train_translator
from lmforge.recipes.translator import Translator, plot_attention
from lmforge.train.trainer import TrainConfig

ENG_FRA = Path(__file__).parents[1] / "data" / "eng_fra" / "eng-fra_first20k_train.txt"
KINDS = ["bahdanau", "dot", "general", "none"]


def greedy_decode(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor) -> list[Hypothesis]:
    """The shared encoder-decoder greedy decoding with the translator's end and length limit."""
    return decoding.greedy_decode(model, src, src_lens, model.config.eos_id, model.length_limit)


def beam_search(model: Seq2Seq, src: torch.Tensor, beam_size: int, length_penalty: float = 0.0) -> list[Hypothesis]:
    return decoding.beam_search(model, src, model.config.eos_id, model.length_limit, beam_size, length_penalty)


def tiny(attention: str = "bahdanau", cell: str = "gru", **kw) -> Seq2Seq:
    torch.manual_seed(0)
    config = Seq2SeqConfig(src_vocab_size=30, tgt_vocab_size=40, emb_dim=16, hidden_size=24, attention=attention,
                           cell=cell, dropout=0.0, **kw)  # fmt: skip
    return Seq2Seq(config).eval()


def random_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    examples = [(torch.randint(4, 30, (n,), generator=g).tolist(), torch.randint(4, 40, (m,), generator=g).tolist())
                for n, m in [(5, 4), (2, 6), (7, 3)]]  # fmt: skip
    return examples, collate(examples)


@pytest.mark.parametrize("kind", KINDS[:3])
def test_attention_weights_are_a_distribution_over_real_source_words(kind):
    model = tiny(kind)
    _, batch = random_batch()
    enc, state = model.encode(batch.src, batch.src_lens)
    _, _, weights = model.decoder(batch.tgt_in, state, enc)  # (B, T, S)
    assert weights.shape == (3, batch.tgt_in.size(1), 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, batch.tgt_in.size(1)))
    for row, length in enumerate(batch.src_lens.tolist()):
        assert (weights[row, :, length:] == 0).all()  # padding gets exactly zero weight
        assert (weights[row, :, :length] > 0).all()


def test_luong_scores_are_scaled_by_one_over_sqrt_hidden():
    """Unscaled dot products of 256-wide states saturated the softmax in training (one source word got weight
    1.0 for every output word); the 1/sqrt(H) keeps the initial scores near unit scale."""
    model = tiny("general")
    attention = model.decoder.attention
    g = torch.Generator().manual_seed(0)
    query, memory = torch.randn(2, 3, 24, generator=g), torch.randn(2, 5, 24, generator=g)
    keys = attention.prepare(memory)
    _, weights = attention(query, keys, memory, torch.ones(2, 5, dtype=torch.bool))
    expected = (query @ (memory @ attention.w.weight.T).transpose(1, 2) / 24**0.5).softmax(-1)
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_padding_does_not_change_a_sentence_translation_scores(kind, cell):
    """A sentence alone and the same sentence inside a padded batch get the same logits."""
    model = tiny(kind, cell, n_layers=2)
    examples, batch = random_batch()
    together = model(batch.src, batch.src_lens, batch.tgt_in)
    for row, example in enumerate(examples):
        alone = collate([example])
        logits = model(alone.src, alone.src_lens, alone.tgt_in)
        torch.testing.assert_close(together[row, : logits.size(1)], logits[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_all_steps_at_once_equals_one_step_at_a_time(kind):
    """Greedy/beam decoding runs the decoder one word at a time; training runs it over the whole target."""
    model = tiny(kind)
    _, batch = random_batch()
    enc, state = model.encode(batch.src, batch.src_lens)
    all_at_once, _, _ = model.decoder(batch.tgt_in, state, enc)
    steps = []
    for t in range(batch.tgt_in.size(1)):
        logits, state, _ = model.decoder(batch.tgt_in[:, t : t + 1], state, enc)
        steps.append(logits)
    torch.testing.assert_close(all_at_once, torch.cat(steps, 1), atol=1e-5, rtol=1e-5)


def test_teacher_forcing_ratio_zero_feeds_the_models_own_guesses():
    model = tiny("general")
    _, batch = random_batch()
    free_running = model(batch.src, batch.src_lens, batch.tgt_in, teacher_forcing_ratio=0.0)
    forced = model(batch.src, batch.src_lens, batch.tgt_in, teacher_forcing_ratio=1.0)
    torch.testing.assert_close(free_running[:, 0], forced[:, 0])  # the first step reads <s> either way
    assert not torch.allclose(free_running[:, 1:], forced[:, 1:])
    guesses = torch.cat([batch.tgt_in[:, :1], free_running[:, :-1].argmax(-1)], dim=1)  # what it must have read
    torch.testing.assert_close(free_running, model(batch.src, batch.src_lens, guesses, teacher_forcing_ratio=1.0),
                               atol=1e-5, rtol=1e-5)  # fmt: skip


def test_config_validation():
    with pytest.raises(ConfigError, match="teacher_forcing_ratio"):
        Seq2SeqConfig(teacher_forcing_ratio=1.5).validate()
    with pytest.raises(ConfigError, match="attention must be"):
        Seq2SeqConfig(attention="luong").validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="hidden_size must be positive"):
        Seq2Seq(Seq2SeqConfig(hidden_size=0))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_of_one_is_greedy_on_an_untrained_model(cell):
    model = tiny("bahdanau", cell, max_target_len=8)
    examples, batch = random_batch()
    greedy = greedy_decode(model, batch.src, batch.src_lens)
    for (src, _), g in zip(examples, greedy, strict=True):
        b = beam_search(model, torch.tensor([src]), beam_size=1)[0]
        assert b.tokens == g.tokens and b.finished == g.finished
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-4)
        torch.testing.assert_close(b.attention, g.attention)


def test_batched_greedy_equals_one_sentence_at_a_time():
    model = tiny("bahdanau", max_target_len=12)
    examples, batch = random_batch()
    together = greedy_decode(model, batch.src, batch.src_lens)
    for (src, _), hyp in zip(examples, together, strict=True):
        alone = greedy_decode(model, torch.tensor([src]), torch.tensor([len(src)]))[0]
        assert (alone.tokens, alone.finished) == (hyp.tokens, hyp.finished)
        assert alone.log_prob == pytest.approx(hyp.log_prob, abs=1e-4)


# ----------------------------------------------------------------------------- a tiny trained translator
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """600 short pairs, 250 steps (a few seconds): enough to translate training sentences."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("translator")
    data = DataConfig(str(ENG_FRA), limit=600, min_freq=1, batch_size=32)
    config = Seq2SeqConfig(emb_dim=48, hidden_size=64, dropout=0.0)
    train = TrainConfig(max_steps=250, lr=1e-2, min_lr=1e-3, warmup_steps=10, eval_interval=125, log_interval=25,
                        checkpoint_interval=1000, precision="fp32", seed=0)  # fmt: skip
    translator, result, split = train_translator(data, config, train, out, console=Console(quiet=True))
    return translator, result, split, out


def test_training_with_the_trainer_lowers_the_loss(trained):
    _, result, _, out = trained
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[0] > 5.0 and losses[-1] < 0.5 * losses[0]
    assert result.val_loss is not None and result.val_loss < losses[0]
    expected_files = {"config.json", "model.safetensors", "vocab.json", "data.json", "loss.png"}
    assert expected_files <= {p.name for p in out.iterdir()}


def test_it_translates_training_sentences(trained):
    translator, _, split, _ = trained
    assert translator.bleu(split.train[:200]).cased > 30


def test_output_is_cased_and_bleu_is_scored_against_the_original_sentences(trained, monkeypatch):
    translator, _, split, _ = trained
    pairs = split.train[:200]
    texts = [t.text for t in translator.translate_many([p.source for p in pairs])]
    assert all(text[0].isupper() for text in texts if text[:1].isalpha())  # a sentence starts with a capital
    assert any("Tom" in text[1:] for text in texts)  # a proper noun keeps its capital inside the sentence
    cased = translator.bleu(pairs)
    monkeypatch.setattr(translator, "truecaser", list)  # the raw lowercase output, as lmforge printed it before
    lowercase = translator.bleu(pairs)
    assert lowercase.lowercased == pytest.approx(cased.lowercased)  # the same words...
    assert lowercase.cased < cased.cased - 10 <= cased.lowercased - 10  # ...lose many matches with the references'


def test_beam_of_one_is_greedy_and_wider_beams_score_at_least_as_well(trained):
    translator, _, split, _ = trained
    model = translator.model
    wins = 0
    for pair in split.test[:25]:
        ids = translator._source_ids(pair.source)
        greedy = greedy_decode(model, torch.tensor([ids]), torch.tensor([len(ids)]))[0]
        one = beam_search(model, torch.tensor([ids]), beam_size=1)[0]
        assert (one.tokens, one.finished) == (greedy.tokens, greedy.finished)
        assert one.log_prob == pytest.approx(greedy.log_prob, abs=1e-4)
        best = beam_search(model, torch.tensor([ids]), beam_size=5, length_penalty=0.0)[0]
        assert best.finished and best.log_prob >= greedy.log_prob - 1e-4
        wins += best.log_prob > greedy.log_prob + 1e-4
    assert wins > 0  # the beam does find better-scoring translations than greedy on some sentences


def test_save_load_round_trip(trained, tmp_path):
    translator, _, split, _ = trained
    translator.save(tmp_path / "copy")
    loaded = Translator.load(tmp_path / "copy")
    assert isinstance(load_model(tmp_path / "copy"), Seq2Seq)
    for name, tensor in translator.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name
    texts = [p.source for p in split.test[:10]]
    assert [t.text for t in loaded.translate_many(texts, beam_size=3)] == \
        [t.text for t in translator.translate_many(texts, beam_size=3)]


def test_lmforge_translate_prints_cased_french(trained):
    translator, _, split, out = trained
    sources = [p.source for p in split.train[:200]]
    source = next(s for s, t in zip(sources, translator.translate_many(sources), strict=True) if "Tom" in t.text[1:])
    app = typer.Typer()
    app.command()(translate_command)
    printed = CliRunner().invoke(app, [source, "--model", str(out), "--beam", "1"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == translator.translate(source).text + "\n"
    assert printed.output[0].isupper() and "Tom" in printed.output


def test_a_translator_saved_before_truecasing_is_refused_in_one_line(trained, tmp_path):
    translator, _, _, _ = trained
    old = tmp_path / "old"
    translator.save(old)
    vocab = json.loads((old / "vocab.json").read_text(encoding="utf-8"))
    del vocab["truecase"]  # what lmforge wrote before translators restored capitals
    (old / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(ConfigError, match="older lmforge that wrote lowercase French"):
        Translator.load(old)
    run = subprocess.run([sys.executable, "-m", "lmforge.cli.main", "translate", "Hi.", "--model", str(old)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "retrain it with `lmforge translate-train`" in run.stderr


def test_attention_heatmap_is_written(trained, tmp_path):
    translator, _, _, _ = trained
    translation = translator.translate("I am cold.", beam_size=3)
    assert translation.attention.shape == (len(translation.tokens) + 1, len(translation.source_tokens))
    plot_attention(translation, tmp_path / "attn.png")
    assert (tmp_path / "attn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_ignores_padding():
    model = tiny("dot")
    examples, batch = random_batch()
    per_sentence = [seq2seq_loss(model, collate([e])) * (len(e[1]) + 1) for e in examples]
    total_words = sum(len(t) + 1 for _, t in examples)
    torch.testing.assert_close(seq2seq_loss(model, batch), sum(per_sentence) / total_words, atol=1e-5, rtol=1e-5)
