import pytest

from lmforge.errors import LmforgeError
from lmforge.infer.transcript import Transcript
from lmforge.tokenizers import train_tokenizer


@pytest.fixture()
def transcript():
    return Transcript(train_tokenizer("char", "abcdefghij \n"), budget=10)


def test_turns_accumulate_and_oldest_whole_turns_drop(transcript):
    assert transcript.add("abc\n") == 0
    assert transcript.add("def\n") == 0
    assert transcript.ids() == transcript.tokenizer.encode("abc\ndef\n")
    assert transcript.add("ghij\n") == 1  # 13 tokens > 10: the first turn goes, whole
    assert transcript.tokenizer.decode(transcript.ids()) == "def\nghij\n"


def test_user_message_too_long_is_an_error_but_long_reply_is_skipped(transcript):
    with pytest.raises(LmforgeError, match="11 tokens; the most that fits is 10"):
        transcript.add("abcdefghij\n")
    transcript.add("abc\n")
    assert transcript.add("abcdefghij\n", must_fit=False) == 1
    assert transcript.tokenizer.decode(transcript.ids()) == "abc\n"


def test_reset(transcript):
    transcript.add("abc")
    transcript.reset()
    assert transcript.ids() == []
