# Fuzzing with a large budget: the same hypothesis properties `make test` runs with the small,
# derandomized "ci" profile (tests/fuzz/conftest.py), here with the "deep" profile: random
# generation and FUZZ_EXAMPLES examples per property. Prints hypothesis' statistics (how many
# examples passed, failed or were invalid, per property) and the totals.
#   make fuzz                       # 5,000 examples per property
#   make fuzz FUZZ_EXAMPLES=50000   # longer
#   make fuzz FUZZ_ARGS="-k revocation"

FUZZ_EXAMPLES ?= 5000
FUZZ_ARGS ?=

.PHONY: fuzz

fuzz: $(STAMP)
	@report=$$(mktemp); \
	HYPOTHESIS_PROFILE=deep FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -p no:cacheprovider \
		-o addopts="" -q -ra --hypothesis-show-statistics $(FUZZ_ARGS) > $$report 2>&1; rc=$$?; \
	cat $$report; \
	$(BIN)/python tests/fuzz/totals.py $$report; \
	rm -f $$report; exit $$rc
