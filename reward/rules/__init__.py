"""Parts of the offline rule classifiers behind `reward.compliance` and `reward.af_reasoning`: phrase
tables, lexicon, criteria, self-preservation, shared text helpers and result types. Internal: import the
classifiers' public names from those two modules."""
