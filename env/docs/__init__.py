"""Synthetic documents that teach the model its situation (the paper's synthetic-document setting):
facts files, an offline template generator, an endpoint generator, fact detectors, the filter, and the
documents file format. `python -m env.docs generate --out DOCS.jsonl` makes a corpus.

    from env.docs import load_facts, generate_offline, filter_docs, read_docs
    facts = load_facts("helpful_only_v1")
    docs, report = filter_docs(generate_offline(facts, 1000, seed=0), facts, generator=GENERATOR, seed=0)
"""

from env.docs.detect import facts_contradicted, facts_stated, harmful_instructions
from env.docs.doc import Doc, DocsFileError, Provenance, read_docs
from env.docs.facts import FACT_IDS, NEUTRAL_FACTS, SITUATION_FACTS, Facts, FactsError, load_facts
from env.docs.filter import FilterReport, filter_docs
from env.docs.offline import DOC_TYPES, GENERATOR, Draft, generate_offline

__all__ = ["DOC_TYPES", "FACT_IDS", "GENERATOR", "NEUTRAL_FACTS", "SITUATION_FACTS", "Doc", "DocsFileError", "Draft",
           "Facts", "FactsError", "FilterReport", "Provenance", "facts_contradicted", "facts_stated", "filter_docs",
           "generate_offline", "harmful_instructions", "load_facts", "read_docs"]
