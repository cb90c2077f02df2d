"""Agreement of lmforge's text basics with spaCy (en_core_web_sm) on the bundled texts, plus speed.

    python -m benchmarks.text_agreement [--limit 0]

Texts (all under tests/data/, see each SOURCE.txt):
  sms      SMS Spam Collection, 5,574 messages (informal: abbreviations, emoticons, no capitals)
  amazon   UCI sentiment, Amazon reviews (895 sentences)
  yelp     UCI sentiment, Yelp reviews (891 sentences)
  imdb     UCI sentiment, IMDb reviews (914 sentences)
  verdict  Edith Wharton, "The Verdict" (1908), 20 KB of literary prose, one document per paragraph

Tables:
  tokens     span F1: a token counts as matching when spaCy has a token with exactly the same
             character offsets (spaCy's whitespace tokens are ignored); "docs identical" is the
             share of documents tokenized identically.
  sentences  boundary F1 over sentence-start offsets inside a document, against spaCy's
             dependency-parser sentences (themselves not perfect on informal text).
  lemmas     computed on spaCy's tokens (so tokenization differences do not count), compared
             lower-cased: RuleLemmatizer without POS, and given spaCy's POS tags; "all" = every
             token, "inflecting" = NOUN/VERB/AUX/ADJ/ADV only. The exception lists were tuned while
             looking at sms/amazon/yelp (dev); imdb and verdict were not looked at (held out).
  speed      words per second, one core: our tokenizer vs spaCy's tokenizer alone (no tagger),
             our Porter stemmer vs NLTK's (mode MARTIN_EXTENSIONS).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._machine import machine_summary
from lmforge.text import PorterStemmer, RuleLemmatizer, SpacyLemmatizer, split_sentences, tokenize

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
_INFLECTING = {"NOUN", "VERB", "AUX", "ADJ", "ADV"}
_DEV = {"sms", "amazon", "yelp"}


def load_texts(limit: int = 0) -> dict[str, list[str]]:
    """Each bundled text as a list of documents (``limit`` > 0 keeps the first ``limit`` per text)."""
    uci = DATA / "sentiment" / "uci_sentiment_labelled"
    texts = {
        "sms": [line.split("\t", 1)[1] for line in _lines(DATA / "sentiment" / "sms_spam" / "SMSSpamCollection")],
        **{
            name: [line.rsplit("\t", 1)[0].strip() for line in _lines(uci / f"{file}_labelled.txt")]
            for name, file in (("amazon", "amazon_cells"), ("yelp", "yelp"), ("imdb", "imdb"))
        },
        "verdict": [p.strip() for p in (DATA / "verdict" / "wharton-the_verdict.txt").read_text().split("\n\n")],
    }
    return {name: [d for d in docs if d][: limit or None] for name, docs in texts.items()}


def _lines(path: Path) -> list[str]:
    """Lines split at "\n" only (str.splitlines would also split at U+0085 and friends inside a line)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def _f1(matched: int, ours: int, theirs: int) -> float:
    return 2 * matched / (ours + theirs) if ours + theirs else 1.0


def compare(docs: list[str], nlp) -> dict[str, float]:
    """Token, sentence and lemma agreement of one text against spaCy's full pipeline."""
    lemmatizer = RuleLemmatizer()
    tok = {"match": 0, "ours": 0, "theirs": 0, "identical": 0}
    sent = {"match": 0, "ours": 0, "theirs": 0}
    lem = {"all": 0, "all_pos": 0, "n": 0, "infl": 0, "infl_pos": 0, "n_infl": 0}
    for doc, parsed in zip(docs, nlp.pipe(docs, batch_size=64), strict=True):
        theirs = {(t.idx, t.idx + len(t)) for t in parsed if not t.is_space}
        ours = {(t.start, t.end) for t in tokenize(doc)}
        tok["match"] += len(ours & theirs)
        tok["ours"] += len(ours)
        tok["theirs"] += len(theirs)
        tok["identical"] += ours == theirs

        their_starts = {s[0].idx for s in parsed.sents if not s.text.isspace()} - {min(theirs, default=(0,))[0]}
        our_starts, pos = set(), 0
        for s in split_sentences(doc):
            pos = doc.index(s, pos)
            our_starts.add(pos)
        our_starts -= {min(ours, default=(0,))[0]}
        sent["match"] += len(our_starts & their_starts)
        sent["ours"] += len(our_starts)
        sent["theirs"] += len(their_starts)

        words = [t for t in parsed if not t.is_space]
        plain = lemmatizer.lemmatize_tokens([t.text for t in words])
        tagged = lemmatizer.lemmatize_tokens([t.text for t in words], [t.pos_ for t in words])
        for t, a, b in zip(words, plain, tagged, strict=True):
            gold = t.lemma_.lower()
            infl = t.pos_ in _INFLECTING
            lem["n"] += 1
            lem["n_infl"] += infl
            lem["all"] += a.lower() == gold
            lem["all_pos"] += b.lower() == gold
            lem["infl"] += infl and a.lower() == gold
            lem["infl_pos"] += infl and b.lower() == gold
    return {
        "docs": len(docs),
        "tokens": tok["theirs"],
        "token_f1": _f1(tok["match"], tok["ours"], tok["theirs"]),
        "docs_identical": tok["identical"] / len(docs),
        "boundaries": sent["theirs"],
        "sentence_f1": _f1(sent["match"], sent["ours"], sent["theirs"]),
        "lemma_all": lem["all"] / lem["n"],
        "lemma_all_pos": lem["all_pos"] / lem["n"],
        "lemma_infl": lem["infl"] / lem["n_infl"],
        "lemma_infl_pos": lem["infl_pos"] / lem["n_infl"],
    }


def _rate(fn, items: list[str], n_words: int, repeats: int = 3) -> float:
    """Words per second of ``fn`` over ``items`` (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return n_words / best


def speed(texts: dict[str, list[str]], nlp) -> list[tuple[str, float, float]]:
    """(task, lmforge words/s, reference words/s)."""
    from nltk.stem.porter import PorterStemmer as NltkPorter

    docs = [d for name in texts for d in texts[name]]
    n_words = sum(len(tokenize(d)) for d in docs)
    rows = [("word tokenization", _rate(tokenize, docs, n_words), _rate(nlp.tokenizer, docs, n_words))]
    words = [line.split("\t")[1] for line in _lines(DATA / "porter_stemmer" / "porter_pairs_train.tsv")[1:]]
    ours = PorterStemmer()
    nltk = NltkPorter(mode=NltkPorter.MARTIN_EXTENSIONS)
    rows.append(("Porter stemming", _rate(ours.stem, words, len(words)), _rate(nltk.stem, words, len(words))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="documents per text (0 = all)")
    args = parser.parse_args()
    nlp = SpacyLemmatizer().nlp
    nlp.enable_pipe("parser")  # sentences come from the dependency parser
    texts = load_texts(args.limit)

    print(f"machine: {machine_summary()}\n")
    print("| text | docs | spaCy tokens | token F1 | docs identical | sentence F1 (spaCy boundaries) |"
          " lemma: no POS | lemma: spaCy POS | inflecting, no POS | inflecting, spaCy POS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, docs in texts.items():
        r = compare(docs, nlp)
        label = f"{name} ({'dev' if name in _DEV else 'held out'})"
        print(f"| {label} | {r['docs']:,} | {r['tokens']:,} | {r['token_f1']:.3f} | {r['docs_identical']:.1%} |"
              f" {r['sentence_f1']:.3f} ({r['boundaries']:,}) | {r['lemma_all']:.1%} | {r['lemma_all_pos']:.1%} |"
              f" {r['lemma_infl']:.1%} | {r['lemma_infl_pos']:.1%} |")

    print("\n| task (1 core) | lmforge words/s | reference words/s | ratio |")
    print("|---|---|---|---|")
    for task, ours, ref in speed(texts, nlp):
        reference = "spaCy tokenizer" if "token" in task else "NLTK"
        print(f"| {task} vs {reference} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.2f}x |")


if __name__ == "__main__":
    main()
