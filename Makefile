# mongo-sync — build, test, demo, bench. Needs only Go.
SHELL   := /bin/bash
GO      ?= go
BIN     := bin
SHARED  := ../shared/conformance

.PHONY: all build testmongod test test-real test-faults bench demo conformance-refresh vet clean

all: build

build:
	$(GO) build -o $(BIN)/mongo-sync ./cmd/mongo-sync

# The test server: FerretDB in its own module, kept out of the product's.
testmongod: $(BIN)/testmongod
$(BIN)/testmongod: tools/testmongod/main.go tools/testmongod/go.mod
	cd tools/testmongod && $(GO) build -o ../../$(BIN)/testmongod .

# Refresh the conformance cases from ../shared when it exists; a plain clone
# runs the copy under testdata/.
conformance-refresh:
	@if [ -f $(SHARED)/cases.json ]; then \
		cp $(SHARED)/cases.json $(SHARED)/README.md testdata/conformance/ && echo "conformance cases refreshed from $(SHARED)"; \
	else echo "no $(SHARED): using testdata/conformance"; fi

vet:
	$(GO) vet ./...

# make test runs on test servers it starts itself, whatever the environment
# names (make test-real runs on those); the skips it may make are pinned.
UNREAL  := env -u MONGO_SYNC_TEST_SRC -u MONGO_SYNC_TEST_DST -u MONGO_SYNC_TEST_SRC_MONGOS -u MONGO_SYNC_TEST_DST_MONGOS

# gotestsum (a go.mod tool) prints one line per package and every failure in
# full, and keeps the run's events in test.json; tools/testcheck then holds
# the run to its pinned skips and prints them with the slowest tests.
test: testmongod conformance-refresh vet
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(UNREAL) $(GO) tool gotestsum --format pkgname-and-test-fails --hide-summary=skipped \
		--jsonfile test.json -- -race -count=1 -timeout 30m ./... ; \
	status=$$?; $(GO) run ./tools/testcheck -json test.json -skips testdata/skips/testserver.txt && exit $$status
	@echo "--- conformance summary (every skip is printed with its reason) ---"
	@TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(UNREAL) $(GO) test -count=1 -run '^TestConformance$$' -v ./applier/ > conformance.out 2>&1 || { cat conformance.out; exit 1; }
	@grep -E '^conformance' conformance.out

# The whole suite against your deployments (README: "Testing against your
# MongoDB"): MONGO_SYNC_TEST_SRC (a replica set) and MONGO_SYNC_TEST_DST, and
# for the sharded tests MONGO_SYNC_TEST_SRC_MONGOS / _DST_MONGOS. One test at
# a time: each starts on deployments that hold no database of their own and
# drops the databases it created; then the fault suite's failpoints build
# (make test-faults), whose server kills skip. real.txt pins the tests kept
# to the test server; real-maybe.txt the skips that depend on what the
# deployments are.
test-real: testmongod conformance-refresh vet
	@test -n "$(MONGO_SYNC_TEST_SRC)" -a -n "$(MONGO_SYNC_TEST_DST)" || \
		{ echo "make test-real needs MONGO_SYNC_TEST_SRC and MONGO_SYNC_TEST_DST (README: Testing against your MongoDB)"; exit 2; }
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) tool gotestsum --format pkgname-and-test-fails --hide-summary=skipped \
		--jsonfile test-real.json -- -p 1 -count=1 -timeout 60m ./... ; \
	status=$$?; \
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) tool gotestsum --format pkgname-and-test-fails --hide-summary=skipped \
		--jsonfile test-real-faults.json -- -tags failpoints -count=1 -timeout 40m -run '$(FAULTS)' ./cmd/mongo-sync/ || status=1; \
	cat test-real.json test-real-faults.json > test-real-all.json; \
	$(GO) run ./tools/testcheck -json test-real-all.json -skips testdata/skips/real.txt -maybe testdata/skips/real-maybe.txt && exit $$status

# The fault suite: a failpoints build; servers killed and restarted, the
# spool at its cap, a damaged segment, kill -9 at points inside our code, and
# the 10-kill variant of the sync kill test.
FAULTS  := TestFault_|TestSync_KillNine|TestLiveSync_|TestReaderProcess_KillNine

test-faults: testmongod
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(UNREAL) $(GO) test -tags failpoints -race -count=1 -timeout 25m -v \
		-run '$(FAULTS)' ./cmd/mongo-sync/ 2>&1 | tee faults.out | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|kill -9|failpoints fired'; \
		test $${PIPESTATUS[0]} -eq 0

# Every benchmark next to its baseline, in one run (about 40 minutes here: the
# $v:2 end-to-end line alone takes 12, the lag line 9).
bench: testmongod
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench . -benchtime 3s -count 5 ./spool/ ./reader/ | tee bench.out
	$(GO) test -run '^$$' -bench 'CPUPath' -cpu 1 -benchtime 3x -count 5 ./applier/ | tee -a bench.out
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench 'EndToEnd' -benchtime 3x -count 3 ./applier/ | tee -a bench.out
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench 'Copy' -benchtime 2x -count 3 ./copier/ | tee -a bench.out
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench 'Shards' -benchtime 3x -count 3 ./applier/ | tee -a bench.out
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench 'Lag' -benchtime 1x -count 3 ./cmd/mongo-sync/ | tee -a bench.out
	# Whole commands: mongo-sync copy against mongodump --archive | mongorestore --archive
	# (MONGO_TOOLS_BIN: a directory with both, built from mongodb/mongo-tools; unset: skipped).
	TESTMONGOD=$(CURDIR)/$(BIN)/testmongod $(GO) test -run '^$$' -bench 'CopyCommand' -benchtime 1x -timeout 60m ./cmd/mongo-sync/ | tee -a bench.out

demo: build testmongod
	$(GO) run ./example/demo

clean:
	rm -rf $(BIN) demo-data bench.out conformance.out faults.out test.json test-real*.json
