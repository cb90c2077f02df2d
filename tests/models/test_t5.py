import torch

from lmforge.models.registry import load_model, save_model
from lmforge.models.t5 import T5, T5Config

SMALL = dict(vocab_size=40, d_model=32, d_head=8, d_mlp=48, n_layers=2, n_heads=4, dropout=0.0)


def test_decoder_is_causal_and_cache_matches_full_decoding(tmp_path):
    torch.manual_seed(0)
    model = T5(T5Config(**SMALL)).eval()
    ids, dec = torch.randint(0, 40, (2, 7)), torch.randint(0, 40, (2, 6))
    with torch.no_grad():
        full = model(ids, dec)
        changed = dec.clone()
        changed[:, -1] = (dec[:, -1] + 1) % 40
        torch.testing.assert_close(model(ids, changed)[:, :-1], full[:, :-1])
        memory, cache = model.encode(ids), model.new_cache(2)
        steps = [model.decode(dec[:, :2], memory, cache=cache)] + [
            model.decode(dec[:, i : i + 1], memory, cache=cache) for i in range(2, 6)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    save_model(model, tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path)(ids, dec), full, atol=1e-6, rtol=0)


def test_untied_gated_variant_has_a_separate_head():
    model = T5(T5Config(**SMALL, tie_embeddings=False, feed_forward="gated-gelu"))
    assert model.lm_head.weight is not model.tok_emb.weight
    assert model.encoder[0].mlp.gate_up.weight.shape == (96, 32)
