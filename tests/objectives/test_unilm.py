"""UniLM: each of the three masks lets each position see exactly what it should (as a matrix, and through a
two-layer model by perturbing one input token at a time), and a tiny run trains all three objectives at once."""

import json
import math

import pytest
import torch
from test_obj_pretrain import pretrain_losses

from lmforge.data.shards import open_shards
from lmforge.errors import ConfigError
from lmforge.models.registry import load_model
from lmforge.models.unilm import MODES, UniLM, UniLMConfig, visibility
from lmforge.objectives.batches import CorruptedWindows
from lmforge.objectives.masking import SpecialIds
from lmforge.objectives.mlm import masked_lm_loss
from lmforge.objectives.unilm import unilm_corruption
from lmforge.recipes.pretrain import bundled_data

T, SOURCE = 7, 3  # [CLS] a [SEP] | b b b [SEP]


def expected(mode: str) -> list[list[int]]:
    """For each query i, the keys it may see, written out by hand."""
    if mode == "bidirectional":
        return [list(range(T))] * T
    if mode == "left_to_right":
        return [list(range(i + 1)) for i in range(T)]
    return [[0, 1, 2]] * SOURCE + [list(range(i + 1)) for i in range(SOURCE, T)]


@pytest.mark.parametrize("mode", MODES)
def test_each_mask_shows_each_position_exactly_its_keys(mode):
    seen = visibility(torch.tensor([MODES.index(mode)]), torch.tensor([SOURCE]), T)[0]
    assert [row.nonzero().flatten().tolist() for row in seen] == expected(mode)


@pytest.mark.parametrize("mode", MODES)
def test_through_the_model_a_token_changes_exactly_the_outputs_that_may_see_it(mode):
    torch.manual_seed(0)
    model = UniLM(UniLMConfig(vocab_size=40, context_length=16, d_model=32, n_layers=2, n_heads=4, d_mlp=64,
                              dropout=0.0)).eval()
    ids = torch.randint(0, 40, (1, T), generator=torch.Generator().manual_seed(1))
    modes, source_len = torch.tensor([MODES.index(mode)]), torch.tensor([SOURCE])
    with torch.no_grad():
        base = model(ids, modes=modes, source_len=source_len)[0]
        influenced = []
        for j in range(T):
            changed = ids.clone()
            changed[0, j] = (ids[0, j] + 1) % 40
            diff = (model(changed, modes=modes, source_len=source_len)[0] - base).abs().amax(-1)  # (T,)
            influenced.append(diff > 1e-6)
    sees = torch.stack(influenced, dim=1)  # [i, j]: changing token j moved output i
    assert [row.nonzero().flatten().tolist() for row in sees] == expected(mode)


def test_mixed_batches_and_bad_config():
    special = SpecialIds(50)
    windows = torch.randint(0, 50, (60, 20), generator=torch.Generator().manual_seed(0))
    inputs, types, labels, modes, source_len = unilm_corruption(special)(windows, torch.Generator().manual_seed(1))
    assert inputs.shape == (60, 23) and set(modes.tolist()) == {0, 1, 2}
    assert ((inputs == special.sep).sum(1) >= 2).all() and (source_len == (types == 0).sum(1)).all()
    only_seq2seq = unilm_corruption(special, (0, 0, 1))(windows, torch.Generator().manual_seed(1))
    assert (only_seq2seq[3] == 2).all()
    with pytest.raises(ConfigError, match="fractions"):
        unilm_corruption(special, (1, 1))
    with pytest.raises(ConfigError, match="MLM head only"):
        UniLMConfig(pooler=True).validate()


@pytest.mark.slow  # ~12 s of CPU; the mask tests above run in the default suite
def test_tiny_unilm_run_trains_all_three_objectives(tmp_path):
    data = bundled_data(tmp_path / "bundled")
    out = tmp_path / "run"
    first, final = pretrain_losses("unilm", data, out)
    assert final < 0.85 * first, (first, final)
    model = load_model(out)
    special = SpecialIds(json.loads((out / "pretrain.json").read_text())["special_ids"]["[PAD]"])
    for mode in range(3):  # every objective learned, not only the mix: each below the untrained ln(V)
        only = unilm_corruption(special, [float(m == mode) for m in range(3)])
        batches = CorruptedWindows(open_shards(data, "val"), 45, 16, only, seed=5)
        inputs, types, labels, modes, source_len = batches.next_batch()
        with torch.no_grad():
            loss = masked_lm_loss(model.mlm_logits(model(inputs, types, modes=modes, source_len=source_len)), labels)
        assert loss < 0.85 * math.log(model.config.vocab_size), (MODES[mode], float(loss))
