# The long differential run (issue 8, "How it is proven"): generated PKIs judged by our validator,
# by `openssl verify` and by cryptography's ClientVerifier, with fresh random examples each run.
# `make test` runs the same tests with the derandomized "ci" profile (a few dozen examples).
# Included from the top-level Makefile (which defines BIN and STAMP).
#
#   make differential                              # 3000 examples per property
#   make differential DIFFERENTIAL_EXAMPLES=20000  # longer
#
# Figures go to build/differential.json (verdict classes and feature coverage), printed at the
# end; an unexplained disagreement leaves its PEMs under build/differential-failures/.

DIFFERENTIAL_EXAMPLES ?= 3000
DIFFERENTIAL_REPORT   ?= build/differential.json

.PHONY: differential

differential: $(STAMP)
	rm -f $(DIFFERENTIAL_REPORT)
	HYPOTHESIS_PROFILE=long DIFFERENTIAL_EXAMPLES=$(DIFFERENTIAL_EXAMPLES) \
	DIFFERENTIAL_REPORT=$(DIFFERENTIAL_REPORT) \
		$(BIN)/pytest tests/differential --hypothesis-show-statistics; \
	status=$$?; cat $(DIFFERENTIAL_REPORT); exit $$status
