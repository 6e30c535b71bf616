# MMGS: `make run` starts a local cluster; `make test` installs what the tests need, builds, and
# runs every test. Both install their own dependencies (idempotently) on a fresh Debian machine.
SHELL := /bin/bash
CONFIG ?= debug
SWIFT_BUILD_FLAGS ?=
BIN := .build/$(CONFIG)
APT_PACKAGES := libsystemd-dev libexpat1-dev pkg-config curl openssl profanity tmux
PY_PACKAGES := pytest==9.0.3 slixmpp==1.17.0

.PHONY: run test deps build swift-test integration-test bench-etunnel bench-xmpp clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c "import pytest, slixmpp" 2>/dev/null || python3 -m pip install -q $(PY_PACKAGES)

build: deps
	swift build -c $(CONFIG) $(SWIFT_BUILD_FLAGS)

# A self-signed certificate for the local cluster's STARTTLS, made once.
run/local/tls/cert.pem:
	mkdir -p run/local/tls
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=mmgs.local" \
		-addext "subjectAltName=DNS:mmgs.local,DNS:localhost,IP:127.0.0.1" \
		-keyout run/local/tls/key.pem -out run/local/tls/cert.pem 2>/dev/null

run: build run/local/tls/cert.pem
	$(BIN)/mmgs run deploy/local/cluster.json --bin $(BIN) --demo-devices

swift-test: deps
	swift build --build-tests
	swift test --skip-build

integration-test: build
	MMGS_BIN=$(abspath $(BIN)) python3 -m pytest -q Tests/Integration

test: swift-test integration-test

bench-etunnel: deps
	swift build -c release --product mmgs-etunnel-bench
	bench/etunnel.sh

# Private community on a local cluster: 1,000 devices, idle then chat steps (release build).
bench-xmpp: deps
	swift build -c release --scratch-path .build-release
	BIN=.build-release/release bench/mmgs-xmpp.sh 1000 500,1000,2000,4000,8000 10 10

clean:
	rm -rf .build run
