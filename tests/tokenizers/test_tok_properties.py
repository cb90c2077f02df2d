"""Hypothesis properties: lossless round trips and HF agreement on arbitrary Unicode."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

# Arbitrary Unicode (hypothesis already excludes lone surrogates) plus a bias
# towards the characters the pre-tokenizer cares about.
text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list(" \t\n\r'sdmtlvre0123aZé€😉\u00a0\u2028\x0b\x1c\x85"))),
)


@settings(max_examples=300, deadline=None)
@given(text)
@example("<|endoftext|>")
@example(" \n \n\n  x")
def test_trained_bpe_round_trip(trained_bpe, s):
    assert trained_bpe.decode(trained_bpe.encode(s)) == s
    assert trained_bpe.decode(trained_bpe.encode(s, allowed_special="all")) == s


@settings(max_examples=300, deadline=None)
@given(text)
def test_gpt2_round_trip(gpt2, s):
    assert gpt2.decode(gpt2.encode(s)) == s


@settings(max_examples=300, deadline=None)
@given(text)
def test_gpt2_matches_hf_on_arbitrary_text(gpt2, hf_gpt2, s):
    assert gpt2.encode(s, allowed_special="all") == hf_gpt2.encode(s).ids


@settings(max_examples=100, deadline=None)
@given(st.lists(text, max_size=5))
def test_encode_batch_matches_encode(trained_bpe, texts):
    assert trained_bpe.encode_batch(texts) == [trained_bpe.encode(t) for t in texts]
